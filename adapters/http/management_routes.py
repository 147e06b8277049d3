"""Management endpoints: insight tags (domains, grants, snippet, debug), campaigns."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, delete, get, patch, post
from msgspec import UNSET

from adapters.http.presenters import campaign_out, debug_out, tag_out
from adapters.http.rule_tester import judge_draft
from adapters.http.schemas import (
    CampaignList,
    CampaignOut,
    CampaignPatch,
    DebugIn,
    DebugOut,
    DomainIn,
    GrantIn,
    GrantList,
    GrantOut,
    NewCampaignIn,
    NewTagIn,
    SpendIn,
    SpendOut,
    TagList,
    TagOut,
)
from adapters.http.strict_bodies import strict_body
from adapters.http.tag_script_routes import snippet_html
from application.access import Caller
from application.collector import Collector
from application.management import ManagementApp


class TagRoutes(Controller):
    """Insight tags, their domains and grants."""

    path = "/v1/tags"
    tags = ["tags"]
    before_request = staticmethod(strict_body)  # docs/api.md types are JSON types: not coerced

    @post("/", sync_to_thread=True, summary="Create an insight tag")
    def create_tag(self, data: NewTagIn, caller: Caller, management: ManagementApp) -> TagOut:
        return tag_out(management.create_tag(caller, data.name), caller.account_id)

    @get("/", sync_to_thread=True, summary="List own and shared tags")
    def list_tags(self, caller: Caller, management: ManagementApp) -> TagList:
        tags = management.list_tags(caller)
        return TagList(items=[tag_out(t, caller.account_id) for t in tags])

    @get("/{tag_id:str}", sync_to_thread=True, summary="Get a tag")
    def get_tag(self, tag_id: str, caller: Caller, management: ManagementApp) -> TagOut:
        return tag_out(management.get_tag(caller, tag_id), caller.account_id)

    @post("/{tag_id:str}/domains", sync_to_thread=True, summary="Register a domain (admin role)")
    def add_domain(
        self, tag_id: str, data: DomainIn, caller: Caller, management: ManagementApp
    ) -> TagOut:
        tag = management.register_domain(caller, tag_id, data.domain)
        return tag_out(tag, caller.account_id)

    @delete("/{tag_id:str}/domains/{domain:str}", sync_to_thread=True, status_code=200,
            summary="Remove a domain (admin role)")
    def remove_domain(
        self, tag_id: str, domain: str, caller: Caller, management: ManagementApp
    ) -> TagOut:
        tag = management.remove_domain(caller, tag_id, domain)
        return tag_out(tag, caller.account_id)

    @post("/{tag_id:str}/grants", sync_to_thread=True,
          summary="Grant an account a role on the tag (admin role)")
    def grant(
        self, tag_id: str, data: GrantIn, caller: Caller, management: ManagementApp
    ) -> GrantOut:
        role = management.grant_access(caller, tag_id, data.account_id, data.role)
        return GrantOut(account_id=data.account_id, role=role)

    @delete("/{tag_id:str}/grants/{account_id:str}", sync_to_thread=True, status_code=200,
            summary="Revoke an account's grant (admin role), or leave a share (the grantee)")
    def revoke(
        self, tag_id: str, account_id: str, caller: Caller, management: ManagementApp
    ) -> GrantOut:
        management.revoke_access(caller, tag_id, account_id)
        return GrantOut(account_id=account_id, role=None)

    @get("/{tag_id:str}/grants", sync_to_thread=True, summary="List the tag's grants")
    def grants(self, tag_id: str, caller: Caller, management: ManagementApp) -> GrantList:
        grants = management.list_grants(caller, tag_id)
        return GrantList(items=[GrantOut(a, r) for a, r in grants.items()])

    @get("/{tag_id:str}/snippet", sync_to_thread=True, media_type="text/html",
         summary="The HTML snippet to paste into every page")
    def snippet(self, tag_id: str, caller: Caller, management: ManagementApp, public_url: str
                ) -> Response[str]:
        tag = management.get_tag(caller, tag_id)
        return Response(snippet_html(str(tag.id), tag.name, public_url), media_type="text/html")

    @post("/{tag_id:str}/debug", status_code=200,
          summary="Which actions a URL would fire, and why each other would not")
    async def debug(
        self, tag_id: str, data: DebugIn, caller: Caller, management: ManagementApp,
        collector: Collector | None,
    ) -> DebugOut:
        # Who may see the tag is the store's answer (404 otherwise); the verdict is the
        # collector's own, from its in-memory catalogue, so the debugger shows what /collect
        # does (ADR 0031).
        tag = await asyncio.to_thread(management.get_tag, caller, tag_id)
        verdict = await collector.judge_page(str(tag.id), data.url) if collector else None
        if verdict is None:  # no collector in this app, or its catalogue cannot be read now
            verdict = await asyncio.to_thread(management.debug_url, caller, tag_id, data.url)
        answer = debug_out(verdict)
        if data.rules is not None:
            answer.draft = judge_draft(data.rules, data.url, answer.domain_registered)
        return answer


class CampaignRoutes(Controller):
    """Campaigns and their daily spend."""

    path = "/v1/campaigns"
    tags = ["campaigns"]
    before_request = staticmethod(strict_body)  # docs/api.md types are JSON types: not coerced

    @post("/", sync_to_thread=True, summary="Create a campaign")
    def create_campaign(
        self, data: NewCampaignIn, caller: Caller, management: ManagementApp
    ) -> CampaignOut:
        campaign = management.create_campaign(caller, data.name, data.type, data.status)
        return campaign_out(campaign)

    @get("/", sync_to_thread=True, summary="List the account's campaigns")
    def list_campaigns(self, caller: Caller, management: ManagementApp) -> CampaignList:
        campaigns = management.list_campaigns(caller)
        return CampaignList(items=[campaign_out(c) for c in campaigns])

    @get("/{campaign_id:str}", sync_to_thread=True, summary="Get a campaign")
    def get_campaign(
        self, campaign_id: str, caller: Caller, management: ManagementApp
    ) -> CampaignOut:
        return campaign_out(management.get_campaign(caller, campaign_id))

    @patch("/{campaign_id:str}", sync_to_thread=True, summary="Rename or change status")
    def update(
        self, campaign_id: str, data: CampaignPatch, caller: Caller, management: ManagementApp
    ) -> CampaignOut:
        campaign = management.update_campaign(
            caller, campaign_id, name=None if data.name is UNSET else data.name,
            status=None if data.status is UNSET else data.status)
        return campaign_out(campaign)

    @post("/{campaign_id:str}/spend", sync_to_thread=True,
          summary="Record a day's spend (the last record for a day wins)")
    def spend(
        self, campaign_id: str, data: SpendIn, caller: Caller, management: ManagementApp
    ) -> SpendOut:
        management.record_spend(caller, campaign_id, data.day, data.amount_minor,
                                data.currency)
        return SpendOut(campaign_id=campaign_id, day=data.day, amount_minor=data.amount_minor,
                        currency=data.currency)

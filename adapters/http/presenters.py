"""Aggregates → response shapes."""

from __future__ import annotations

from application.actions import UrlDebug
from application.facts import ItemResult
from domain.account import Account
from domain.campaign import Campaign
from domain.conversion_action import ConversionAction
from domain.insight_tag import InsightTag
from adapters.http.schemas import (
    AccountStatusOut,
    ActionOut,
    ActionVerdictOut,
    BatchResults,
    CampaignOut,
    DebugOut,
    ItemResultOut,
    MoneyOut,
    RuleOut,
    SpendOut,
    TagOut,
)


def status_out(account: Account) -> AccountStatusOut:
    return AccountStatusOut(account_id=str(account.id), name=account.name,
                            status=account.status)  # type: ignore[arg-type]


def tag_out(tag: InsightTag, account_id: str | None) -> TagOut:
    role = tag.role_of(account_id) if account_id else None
    return TagOut(tag_id=str(tag.id), name=tag.name, owner_account_id=tag.owner_account_id,
                  domains=list(tag.domains), status=tag.status, role=role or "none")


def campaign_out(campaign: Campaign) -> CampaignOut:
    currency = campaign.currency or ""
    spend = [SpendOut(str(campaign.id), day, amount, currency)
             for day, amount in sorted(campaign.spend.items())]
    return CampaignOut(campaign_id=str(campaign.id), name=campaign.name,
                       type=campaign.campaign_type, status=campaign.status,
                       owner_account_id=campaign.owner_account_id,
                       created_at=campaign.created_on, currency=campaign.currency, spend=spend)


def action_out(action: ConversionAction) -> ActionOut:
    s = action.settings
    value = MoneyOut(*s.value) if s.value else None
    return ActionOut(action_id=str(action.id), tag_id=action.tag_id, name=s.name,
                     category=s.category, rules=[RuleOut(m, u) for m, u in s.rules],
                     value_mode=s.value_mode, value=value,
                     click_window_days=s.click_window_days, view_window_days=s.view_window_days,
                     counting=s.counting, attribution=s.attribution,
                     campaign_ids=list(s.campaign_ids), enabled=s.enabled, status=action.status)


def debug_out(debug: UrlDebug) -> DebugOut:
    verdicts = [
        ActionVerdictOut(action_id=str(v.action.id), name=v.action.settings.name, fires=v.fires,
                         reason=v.reason,
                         matched_rule=RuleOut(v.matched_rule.match, v.matched_rule.url)
                         if v.matched_rule else None)
        for v in debug.verdicts
    ]
    return DebugOut(url=debug.url, host=debug.host, domain_registered=debug.domain_registered,
                    actions=verdicts)


def batch_out(results: list[ItemResult]) -> BatchResults:
    return BatchResults(results=[
        ItemResultOut(event_id=r.event_id, status=r.status,  # type: ignore[arg-type]
                      reason=r.reason, field=r.field, detail=r.detail)
        for r in results
    ])

"""Insight tag commands: tags, their domains and their grants."""

from __future__ import annotations

from application.access import Caller
from application.errors import Conflict, Forbidden, NotFound, UnknownReference
from application.management_base import ManagementBase, parse_id, retried_on_conflict
from domain.account import Account
from domain.insight_tag import (
    AccessDenied,
    DomainNotRegistered,
    GrantNotFound,
    InsightTag,
    OwnerCannotBeGranted,
)
from domain.url_rules import check_domain, normalise_domain
from domain.validation import Invalid, check_one_of, check_text
from domain.values import ROLES


class TagCommands(ManagementBase):
    """Creating, reading and sharing insight tags."""

    @retried_on_conflict
    def create_tag(self, caller: Caller, name: str) -> InsightTag:
        """Create a tag owned by the calling account."""
        account_id = self._require_account(caller)
        account = self._get(Account, account_id, "account")
        tag = InsightTag(owner_account_id=account_id, name=check_text(name, "name"),
                         actor=caller.actor, occurred_at=self.clock())
        account.add_tag(str(tag.id), actor=caller.actor, occurred_at=self.clock())
        self.save(tag, account)
        return tag

    def get_tag(self, caller: Caller, tag_id: str) -> InsightTag:
        """A tag the caller owns or was granted."""
        return self._visible_tag(caller, tag_id)

    def list_tags(self, caller: Caller) -> list[InsightTag]:
        """The caller's own tags, then the tags shared with it."""
        account = self._get(Account, self._require_account(caller), "account")
        tags = [self._find(InsightTag, t) for t in account.tag_ids + account.shared_tag_ids]
        return [t for t in tags if t is not None]

    @retried_on_conflict
    def register_domain(self, caller: Caller, tag_id: str, domain: str) -> InsightTag:
        """Accept fires from this domain and its subdomains (admin role)."""
        tag = self._tag_for_change(caller, tag_id, "admin")
        normalised = normalise_domain(domain)
        reason = check_domain(normalised)
        if reason is not None:
            raise Invalid("domain", reason, f"{domain!r} is not a valid host name")
        tag.register_domain(normalised, actor=caller.actor, occurred_at=self.clock())
        self.save(tag)
        return tag

    @retried_on_conflict
    def remove_domain(self, caller: Caller, tag_id: str, domain: str) -> InsightTag:
        """Stop accepting fires from a domain (admin role)."""
        tag = self._tag_for_change(caller, tag_id, "admin")
        try:
            tag.remove_domain(normalise_domain(domain), actor=caller.actor,
                              occurred_at=self.clock())
        except DomainNotRegistered:
            raise NotFound(f"domain {domain!r} is not registered on this tag") from None
        self.save(tag)
        return tag

    @retried_on_conflict
    def grant_access(self, caller: Caller, tag_id: str, account_id: str, role: str) -> str:
        """Give another account a role on the tag (admin role); returns the role."""
        tag = self._tag_for_change(caller, tag_id, "admin")
        check_one_of(role, ROLES, "role")
        grantee = self._find(Account, account_id)
        if grantee is None:
            raise UnknownReference(f"no account {account_id!r}", field="account_id")
        try:
            tag.grant_access(str(grantee.id), role, actor=caller.actor, occurred_at=self.clock())
        except OwnerCannotBeGranted:
            raise Conflict("the tag's owner has every right already",
                           field="account_id") from None
        grantee.share_tag(str(tag.id), actor=caller.actor, occurred_at=self.clock())
        self.save(tag, grantee)
        return role

    @retried_on_conflict
    def revoke_access(self, caller: Caller, tag_id: str, account_id: str) -> None:
        """Take a grant away (admin role), or leave a share (the grantee itself, any role);
        the account loses access on its next request."""
        # Grants are kept under the canonical id; a grant made with another spelling of the
        # same UUID (upper case, braces) must be revocable with that spelling too.
        uuid = parse_id(account_id)
        account_id = str(uuid) if uuid is not None else account_id
        tag = self._visible_tag(caller, tag_id)
        # Anyone may grant an account a role unasked; the grantee must be able to leave, or
        # another account's conversions would stay in its answers for good.
        if account_id != caller.account_id:
            self._check_role(caller, tag, "admin")
        try:
            tag.revoke_access(account_id, actor=caller.actor, occurred_at=self.clock())
        except GrantNotFound:
            raise NotFound(f"account {account_id!r} has no grant on this tag") from None
        grantee = self._find(Account, account_id)
        if grantee is not None:
            grantee.unshare_tag(str(tag.id), actor=caller.actor, occurred_at=self.clock())
        self.save(tag, grantee)

    def list_grants(self, caller: Caller, tag_id: str) -> dict[str, str]:
        """Who has which role on the tag (any role may read it)."""
        return dict(self._visible_tag(caller, tag_id).grants)

    def _tag_for_change(self, caller: Caller, tag_id: str, needed: str) -> InsightTag:
        """A visible tag on which the caller has at least `needed`; else 404 or 403."""
        tag = self._visible_tag(caller, tag_id)
        self._check_role(caller, tag, needed)
        return tag

    @staticmethod
    def _check_role(caller: Caller, tag: InsightTag, needed: str) -> None:
        """Forbidden unless the caller's role on a tag it can see includes `needed`."""
        assert caller.account_id is not None  # _visible_tag only passes accounts
        try:
            tag.check_role(caller.account_id, needed)
        except AccessDenied as denied:
            raise Forbidden(str(denied)) from None

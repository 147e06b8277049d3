"""The InsightTag aggregate: one tag per site, its registered domains and who may use it."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate, event

# A role includes every right of the roles before it (docs/api.md: roles on a shared tag).
ROLE_RANK = {"viewer": 1, "editor": 2, "admin": 3, "owner": 4}


class TagError(Exception):
    """Base of the InsightTag guards' errors."""


class AccessDenied(TagError):
    """The account may see the tag but its role does not allow the change."""

    def __init__(self, needed: str, has: str) -> None:
        super().__init__(f"this needs the {needed} role on the tag; the account has {has}")
        self.needed = needed
        self.has = has


class DomainNotRegistered(TagError):
    """The domain to remove is not registered on the tag."""


class GrantNotFound(TagError):
    """The account to revoke has no grant on the tag."""


class OwnerCannotBeGranted(TagError):
    """The owner has every right already; a grant to it would be meaningless."""


class InsightTag(Aggregate):
    """An insight tag, owned by one account.

    Invariants: domains are normalised lower-case host names, each listed once; the owner never
    appears among the grants; a grant maps one account to exactly one role.
    """

    TOPIC = "convtrack:InsightTag"

    class Event(Aggregate.Event):
        actor: str
        occurred_at: datetime

    class Created(Event, Aggregate.Created):
        TOPIC = "convtrack:InsightTag.Created"
        owner_account_id: str
        name: str

    class DomainRegistered(Event):
        TOPIC = "convtrack:InsightTag.DomainRegistered"
        domain: str

    class DomainRemoved(Event):
        TOPIC = "convtrack:InsightTag.DomainRemoved"
        domain: str

    class AccessGranted(Event):
        TOPIC = "convtrack:InsightTag.AccessGranted"
        account_id: str
        role: str

    class AccessRevoked(Event):
        TOPIC = "convtrack:InsightTag.AccessRevoked"
        account_id: str

    class ActionAdded(Event):
        TOPIC = "convtrack:InsightTag.ActionAdded"
        action_id: str

    @event(Created)
    def __init__(self, owner_account_id: str, name: str, actor: str, occurred_at: datetime) -> None:
        self.owner_account_id = owner_account_id
        self.name = name
        self.status = "active"
        self.domains: list[str] = []
        self.grants: dict[str, str] = {}
        self.action_ids: list[str] = []

    def role_of(self, account_id: str) -> str | None:
        """The account's role on this tag: owner, a granted role, or None (not visible)."""
        if account_id == self.owner_account_id:
            return "owner"
        return self.grants.get(account_id)

    def check_role(self, account_id: str, needed: str) -> None:
        """Raise AccessDenied unless the account's role includes `needed`."""
        has = self.role_of(account_id) or "none"
        if ROLE_RANK.get(has, 0) < ROLE_RANK[needed]:
            raise AccessDenied(needed, has)

    def register_domain(self, domain: str, actor: str, occurred_at: datetime) -> None:
        """Registering a domain twice changes nothing (the caller gets the tag either way)."""
        if domain not in self.domains:
            self._register_domain(domain, actor, occurred_at)

    @event(DomainRegistered)
    def _register_domain(self, domain: str, actor: str, occurred_at: datetime) -> None:
        self.domains.append(domain)

    def remove_domain(self, domain: str, actor: str, occurred_at: datetime) -> None:
        """Stop accepting fires from a domain."""
        if domain not in self.domains:
            raise DomainNotRegistered(domain)
        self._remove_domain(domain, actor, occurred_at)

    @event(DomainRemoved)
    def _remove_domain(self, domain: str, actor: str, occurred_at: datetime) -> None:
        self.domains.remove(domain)

    def grant_access(self, account_id: str, role: str, actor: str, occurred_at: datetime) -> None:
        """Give an account a role; granting the role it already has records nothing."""
        if account_id == self.owner_account_id:
            raise OwnerCannotBeGranted(account_id)
        if self.grants.get(account_id) != role:
            self._grant_access(account_id, role, actor, occurred_at)

    @event(AccessGranted)
    def _grant_access(self, account_id: str, role: str, actor: str, occurred_at: datetime) -> None:
        self.grants[account_id] = role

    def revoke_access(self, account_id: str, actor: str, occurred_at: datetime) -> None:
        """Take a grant away; effective for the account's next request."""
        if account_id not in self.grants:
            raise GrantNotFound(account_id)
        self._revoke_access(account_id, actor, occurred_at)

    @event(AccessRevoked)
    def _revoke_access(self, account_id: str, actor: str, occurred_at: datetime) -> None:
        del self.grants[account_id]

    @event(ActionAdded)
    def add_action(self, action_id: str, actor: str, occurred_at: datetime) -> None:
        self.action_ids.append(action_id)

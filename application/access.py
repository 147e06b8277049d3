"""Who is calling: an account (by API key) or the operator (by the admin token)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request; events record it as the actor."""

    account_id: str | None
    is_admin: bool = False
    service: str | None = None  # an internal service acting for itself (SERVICE_COLLECTOR)

    @property
    def actor(self) -> str:
        """How events name this caller: `account:<id>`, `admin`, or the service's name."""
        if self.service is not None:
            return self.service
        return f"account:{self.account_id}" if self.account_id else "admin"

    @classmethod
    def admin(cls) -> Caller:
        """The operator, authenticated by CONVTRACK_ADMIN_TOKEN."""
        return cls(account_id=None, is_admin=True)

    @classmethod
    def collector(cls) -> Caller:
        """The fires consumer recording browser fires: any tag's actions, as the operator's
        services may (ADR 0032), under its own name."""
        return cls(account_id=None, is_admin=True, service=SERVICE_COLLECTOR)

    @classmethod
    def account(cls, account_id: str) -> Caller:
        """An advertiser account, authenticated by its API key."""
        return cls(account_id=account_id)


SERVICE_COLLECTOR = "service:collector"

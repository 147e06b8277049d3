"""Errors the applications raise; adapters map them to HTTP statuses in one place."""

from __future__ import annotations


class ApplicationError(Exception):
    """Base of every error an application raises on purpose."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotAuthenticated(ApplicationError):
    """No credentials, or credentials that match no account."""


class NotFound(ApplicationError):
    """Unknown, or not visible to the caller (never tell the two apart: docs/api.md)."""


class Forbidden(ApplicationError):
    """The caller can see the thing but its role does not allow the change."""


class Conflict(ApplicationError):
    """The change contradicts the thing's state (e.g. an archived action edited)."""


class UnknownReference(ApplicationError):
    """A body names an id that does not exist or is not visible (docs/api.md: 422 naming the
    field)."""

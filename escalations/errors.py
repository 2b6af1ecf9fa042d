"""The errors services raise. Every door translates them the same way: a form error on
the named field, or one JSON shape with a 4xx status in the API."""

from __future__ import annotations


class ServiceError(Exception):
    """A refused change. ``field`` names the input at fault (None: a rule about the whole
    case); ``code`` is stable for programs; ``message`` is for people."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or self.default_code
        # Refusals of other fields found by the same check, so a form shows them all at once.
        self.others: tuple[ServiceError, ...] = ()

    def all_errors(self) -> tuple[ServiceError, ...]:
        return (self, *self.others)

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


class RuleViolation(ServiceError):
    """The change breaks a playbook rule (open required items, no reason, …)."""

    status_code = 400
    default_code = "rule_violation"


class InvalidTransition(RuleViolation):
    default_code = "invalid_transition"


class NotAllowed(ServiceError):
    """The actor may not make this change (e.g. a downgrade needs a Manager)."""

    status_code = 403
    default_code = "not_allowed"


class VersionConflict(ServiceError):
    """Someone else changed the case since the caller read it."""

    status_code = 412
    default_code = "version_conflict"

    def __init__(self, message: str, *, current_version: int, changed: dict | None = None):
        super().__init__(message, field="version")
        self.current_version = current_version
        self.changed = changed or {}

    def as_dict(self) -> dict:
        return {**super().as_dict(), "current_version": self.current_version, "changed": self.changed}


def raise_all(errors: list[ServiceError]) -> None:
    """Raise the first of ``errors`` carrying the rest (nothing when there are none)."""
    if errors:
        first = errors[0]
        first.others = tuple(errors[1:])
        raise first

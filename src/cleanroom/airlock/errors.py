"""The airlock's errors: each one a message for the person and the HTTP status it maps to."""

from __future__ import annotations

from ..errors import CleanRoomError


class AirlockError(CleanRoomError):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, reasons: list[str] | tuple[str, ...] = ()):
        super().__init__(message)
        self.reasons = list(reasons)


class InvalidInput(AirlockError):
    """A name, a body or a parameter is not acceptable."""

    status = 400


class NotSignedIn(AirlockError):
    status = 401


class PermissionDenied(AirlockError):
    status = 403


class NotFound(AirlockError):
    status = 404


class Conflict(AirlockError):
    """The request is not in a state where this can happen, or it already happened."""

    status = 409


class InvalidTransition(Conflict):
    """A state change the transition table does not allow."""


class PolicyRefused(Conflict):
    """The release or review policy said no; ``reasons`` are the policy's."""


class TooLarge(AirlockError):
    status = 413


class Unavailable(AirlockError):
    """Something the airlock needs (the hub, OPA, the audit log, the catalog) did not answer."""

    status = 503


class IntegrityError(AirlockError):
    """Stored bytes no longer match their hash: nothing is served."""

    status = 500

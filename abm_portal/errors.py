"""Typed errors of the portal's domain. The REST API maps them to RFC 9457 problems (``abm_portal.api.problems``),
the web pages to HTML pages (``abm_portal.web.routing``); domain code never knows about HTTP.

Every message says what to fix.
"""

from __future__ import annotations


class PortalError(Exception):
    """Base of every error the services raise on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(PortalError):
    """Input breaks a rule; ``field`` names the input (camelCase, as the REST API spells it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class AuthenticationFailed(PortalError):
    """A login or a client's credentials are wrong (deliberately vague about which part)."""


class TooManyAttempts(PortalError):
    """Too many failed logins or client authentications lately: refused unchecked until ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyStreams(PortalError):
    """An organisation holds as many open streams as it may (``abm_portal.services.revocation_stream``); try
    again after ``retry_after`` seconds, or poll the feed instead."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(PortalError):
    """A REST call came without valid credentials: missing, malformed, expired or revoked bearer token.

    ``error`` is the RFC 6750 §3.1 error code for the ``WWW-Authenticate`` challenge; None when the request
    carried no credentials at all (then the challenge names no error).
    """

    def __init__(self, message: str, error: str | None = "invalid_token") -> None:
        super().__init__(message)
        self.error = error


class Forbidden(PortalError):
    """The caller is known but may not do this (e.g. a member approving, a consumer deciding)."""


class NotFound(PortalError):
    """There is no such thing, or it belongs to an organisation the caller may not see (never leak which)."""


class Conflict(PortalError):
    """The request clashes with what exists (a name taken, a report that differs from the one sent before)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidTransition(PortalError):
    """A state change that the state machine (DESIGN §6) does not allow from the current state."""

    def __init__(self, entity: str, current: str, target: str, message: str | None = None) -> None:
        super().__init__(message or f"The {entity} is {current}; it cannot become {target}.")
        self.entity, self.current, self.target = entity, current, target


class InvalidToken(PortalError):
    """A JWT failed a check: signature, key id, type, issuer, audience or lifetime."""


class KeyEncryptionFailed(PortalError):
    """The key-encryption key of the signing keys is missing, malformed or not the one they were sealed with."""

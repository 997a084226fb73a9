"""The connector's errors. Everything it raises on purpose is a ``ConnectorError``::

    ConnectorError
    ├── ConfigurationError      settings or key files are wrong: fix them, then restart (fatal)
    ├── PortalError             the portal could not do what was asked
    │   ├── PortalUnavailable   network, timeout or 5xx: retry later; cached grants and keys keep working
    │   └── PortalRefused       the portal said no (4xx); ``status`` and the problem's ``detail`` say why
    ├── GrantRefused            a grant does not admit this channel (``code`` names the check that failed)
    ├── SealBroken              a sealed message fails a check: signature, recipient, decryption or digest
    └── LinkRefused             a one-time link cannot be used: gone (used or expired), not yours, unknown

Retryable: ``PortalUnavailable``, and ``LinkRefused`` with ``retry`` set (ask for a fresh link). The rest are
final for the message or request concerned; none of them stops the connector.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class ConfigurationError(ConnectorError):
    pass


class PortalError(ConnectorError):
    pass


class PortalUnavailable(PortalError):
    def __init__(self, what: str, cause: str) -> None:
        self.what, self.cause = what, cause
        super().__init__(f"the portal is unreachable ({what}): {cause}")


class PortalRefused(PortalError):
    def __init__(self, what: str, status: int, detail: str) -> None:
        self.what, self.status, self.detail = what, status, detail
        super().__init__(f"the portal refused {what} ({status}): {detail}")


class GrantRefused(ConnectorError):
    """``code`` is stable for logs and counts, ``reason`` is for people."""

    def __init__(self, code: str, reason: str, subscription_id: str | None = None) -> None:
        self.code, self.reason, self.subscription_id = code, reason, subscription_id
        super().__init__(f"{code}: {reason}")


class SealBroken(ConnectorError):
    def __init__(self, code: str, reason: str) -> None:
        self.code, self.reason = code, reason
        super().__init__(f"{code}: {reason}")


class LinkRefused(ConnectorError):
    def __init__(self, status: int, reason: str, *, retry: bool = False) -> None:
        self.status, self.reason, self.retry = status, reason, retry
        super().__init__(f"link refused ({status}): {reason}")

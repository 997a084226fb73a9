"""The connector's errors. Everything it raises on purpose is a ``ConnectorError``::

    ConnectorError
    ├── ConfigurationError      settings or key files are wrong: fix them, then restart (fatal)
    ├── PortalError             the portal could not do what was asked
    │   ├── PortalUnavailable   network, timeout or 5xx: retry later; cached grants and keys keep working
    │   └── PortalRefused       the portal said no (4xx); ``status`` and the problem's ``detail`` say why
    ├── Refused                 one side of a channel says no, with a ``Code`` (``connector.codes``)
    │   ├── GrantRefused        a grant does not admit this channel
    │   ├── SealBroken          a sealed message fails a check: signature, recipient, decryption or digest
    │   ├── LinkRefused         a one-time link cannot be used: unknown (404), not yours (403), gone (410)
    │   ├── Fallen              the subscription ended here: nothing more of it is sent, its links are gone
    │   └── ChannelRefused      what a consumer hears when the provider refuses its channel or request
    └── ChannelDown             the channel could not be reached or broke: reconnect after the backoff

Retryable: ``PortalUnavailable``, ``ChannelDown``, ``LinkRefused`` with ``retry`` set (ask for a fresh link),
and a ``Refused`` whose code is not in ``codes.FINAL``. None of them stops the connector.
"""

from __future__ import annotations

from connector.codes import Code


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


class Refused(ConnectorError):
    """``code`` is stable for programs, logs and counts; ``reason`` is for people."""

    def __init__(self, code: Code, reason: str) -> None:
        self.code, self.reason = code, reason
        super().__init__(f"{code}: {reason}")


class GrantRefused(Refused):
    def __init__(self, code: Code, reason: str, subscription_id: str | None = None) -> None:
        super().__init__(code, reason)
        self.subscription_id = subscription_id


class SealBroken(Refused):
    pass


LINK_CODES = {404: Code.LINK_UNKNOWN, 403: Code.LINK_NOT_YOURS, 410: Code.LINK_GONE}


class LinkRefused(Refused):
    def __init__(self, status: int, reason: str, *, retry: bool = False, code: Code | None = None) -> None:
        super().__init__(code or LINK_CODES.get(status, Code.MALFORMED), reason)
        self.status, self.retry = status, retry


class ChannelRefused(Refused):
    """The provider refused the channel (at the challenge or the connect) or a request on it."""

    @classmethod
    def of(cls, code: object, reason: object) -> ChannelRefused:
        """From a peer's words: an unknown code is kept as ``malformed`` with the peer's code in the reason."""
        try:
            return cls(Code(str(code)), str(reason))
        except ValueError:
            return cls(Code.MALFORMED, f"{code}: {reason}")


class Fallen(Refused):
    """The subscription ended here (revoked, cancelled, expired, completed, its window over): its data stops."""


class ChannelDown(ConnectorError):
    """The provider could not be reached, or the connection broke."""

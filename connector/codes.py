"""Why the connector refuses or ends something: one stable code per reason, shared by both sides of the channel.

A code travels in a refused connect (``{code, reason}``), in an event's answer (``{ok: false, code, reason}``),
in ``closing`` and in a link's problem+json; it is what the refusal counters and the audit trail count by.
``reason`` is for people; ``code`` is for programs, so programs never match on prose.

Who decides what a consumer does next:

- ``FINAL``: the subscription has ended. The consumer stops asking for it for good.
- ``RETRY_SOON``: a passing state (a nonce that went stale, a grant about to be refreshed, a provider
  restarting, a handler that failed): ask again after the normal reconnect backoff.
- everything else: this grant or message will not pass as it is; the consumer waits the longest backoff, by
  which time the control plane may have fetched a fresh grant, keys or endpoint from the portal.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    # -- the subscription has ended (the portal's final states, and the end of a real-time window) -----------
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WINDOW_ENDED = "window-ended"

    # -- admission: the grant (DESIGN §4) and the handshake (DESIGN §5.1) -------------------------------------
    GRANT_REQUIRED = "grant-required"  # no grant presented
    NO_TRUST = "no-trust"  # the provider has not yet learnt the portal's keys
    MALFORMED = "malformed"  # a grant, event or message that is not what the protocol says
    MALFORMED_AUTH = "malformed-auth"  # connect auth that is not {grant, nonce, proof}
    BAD_SIGNATURE = "bad-signature"  # a grant or a sealed record not signed by who it claims
    UNKNOWN_KEY = "unknown-key"  # a grant signed by a key the portal's JWKS lacks
    WRONG_TYPE = "wrong-type"  # a JWT that is not a grant (typ)
    WRONG_ISSUER = "wrong-issuer"
    WRONG_AUDIENCE = "wrong-audience"  # a grant for another provider
    GRANT_EXPIRED = "grant-expired"  # the grant's own lifetime ended: fetch a fresh one
    NOT_YET_VALID = "not-yet-valid"
    OUTSIDE_WINDOW = "outside-window"  # now, or a history range, lies outside validFrom/validTo
    WRONG_SUBSCRIPTION = "wrong-subscription"
    UNKNOWN_SUBSCRIPTION = "unknown-subscription"  # the portal knows no such subscription
    INVALID = "invalid"  # the portal says the grant is no longer valid, for no final reason
    UNKNOWN_ASSET_TYPE = "unknown-asset-type"
    STALE_NONCE = "stale-nonce"
    BAD_PROOF = "bad-proof"  # the proof is not the consumer key's signature the grant names
    WRONG_MODE = "wrong-mode"  # 'subscribe' on a historical subscription, or 'history' on a real-time one

    # -- the channel's own life -------------------------------------------------------------------------------
    NOT_READY = "not-ready"  # consumer side: no grant, endpoint or keys yet
    SHUTTING_DOWN = "shutting-down"
    MOVED = "moved"  # the subscription's channel moves to another worker of the provider: connect again
    BUSY = "busy"  # another worker of the provider serves this subscription's channel and did not hand it over yet
    INTERNAL = "internal"  # a handler failed unexpectedly and logged why
    FLOODED = "flooded"  # the channel sent more events than its budget allows: refused and closed
    SLOW_DOWN = "slow-down"  # too much too fast (one source's handshakes, records beyond what a consumer holds)

    # -- records the consumer refuses (never stored) ----------------------------------------------------------
    REPLAYED = "replayed"  # the sealed header names another subscription or seq than the message carrying it
    WRONG_ASSET_TYPE = "wrong-asset-type"
    TOO_LARGE = "too-large"
    INVALID_RECORD = "invalid-record"  # fails its asset type's checks
    CONFLICT = "conflict"  # another content under a key and revision already stored
    MISMATCH = "mismatch"  # a historical transfer's count or digest differs between the sides

    # -- seals (connector._sealing) ---------------------------------------------------------------------------
    UNSUPPORTED = "unsupported"
    MALFORMED_HEADER = "malformed-header"
    WRONG_RECIPIENT = "wrong-recipient"
    WRONG_SENDER = "wrong-sender"
    DIGEST_MISMATCH = "digest-mismatch"
    UNDECRYPTABLE = "undecryptable"
    TRUNCATED = "truncated"

    # -- one-time links ---------------------------------------------------------------------------------------
    LINK_UNKNOWN = "link-unknown"  # 404
    LINK_NOT_YOURS = "link-not-yours"  # 403: the proof is not the subscribed consumer's
    LINK_GONE = "link-gone"  # 410: used, expired, or its subscription ended
    FILE_NOT_FOUND = "file-not-found"


REFUSAL_ACTION = "connector.refused"  # the audit trail's action of every refusal, its ``detail.code`` a Code
FINAL = frozenset({Code.REVOKED, Code.CANCELLED, Code.EXPIRED, Code.COMPLETED, Code.REJECTED, Code.WINDOW_ENDED})
RETRY_SOON = frozenset({Code.STALE_NONCE, Code.GRANT_EXPIRED, Code.SHUTTING_DOWN, Code.MOVED, Code.BUSY,
                        Code.INTERNAL, Code.SLOW_DOWN})


def code_of(value: object) -> Code | None:
    """The code a peer sent, or None for one this version does not know (treated as neither final nor soon)."""
    try:
        return Code(str(value))
    except ValueError:
        return None

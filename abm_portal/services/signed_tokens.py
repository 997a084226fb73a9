"""Signing and checking the portal's JWTs (RFC 7519): access tokens and grants, one way in for each job.

Each kind of token has its own ``typ`` header (RFC 8725 §3.11, explicit typing), so a grant is never taken
for an access token or the other way round. Checks: signature against the published key named by ``kid``,
algorithm ES256 only, ``typ``, ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat``, with the configured leeway.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from sqlmodel import Session

from abm_portal.clock import utcnow
from abm_portal.config import Settings
from abm_portal.errors import InvalidToken
from abm_portal.services import signing_keys

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
GRANT_TYPE = "grant+jwt"


def sign(db: Session, settings: Settings, *, typ: str, claims: dict[str, Any], audience: str, lifetime_end: datetime,
         not_before: datetime | None = None, now: datetime | None = None) -> str:
    """A JWT of type ``typ`` signed with the current key; adds iss, aud, iat, nbf, exp and jti."""
    key = signing_keys.current_key(db, settings)
    issued = now or utcnow()
    registered = {"iss": settings.issuer, "aud": audience, "iat": int(issued.timestamp()),
                  "nbf": int((not_before or issued).timestamp()), "exp": int(lifetime_end.timestamp()),
                  "jti": str(uuid.uuid4())}
    header = {"alg": signing_keys.ALGORITHM, "kid": key.kid, "typ": typ}
    return jwt.encode(header, {**claims, **registered}, signing_keys.jwk_of(key, settings),
                      algorithms=[signing_keys.ALGORITHM])


def verify(db: Session, settings: Settings, token: str, *, typ: str,
           audience: str | Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """The claims of ``token`` after every check passed; ``InvalidToken`` says which one failed.

    ``audience`` is the expected ``aud``, or a function of the claims that returns it (a grant's audience
    depends on the subscription it names).
    """
    try:
        decoded = jwt.decode(token, signing_keys.key_set(db, settings), algorithms=[signing_keys.ALGORITHM])
    except JoseError as exc:
        raise InvalidToken(_reason(exc)) from None
    if decoded.header.get("typ") != typ:
        raise InvalidToken(f"The token is of type {decoded.header.get('typ')!r}, not {typ!r}.")
    claims = decoded.claims
    expected_aud = audience(claims) if callable(audience) else audience
    registry = jwt.JWTClaimsRegistry(
        leeway=settings.clock_skew_seconds,
        iss={"essential": True, "value": settings.issuer},
        aud={"essential": True, "value": expected_aud},
        exp={"essential": True}, iat={"essential": True}, jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidToken(_reason(exc)) from None
    return claims


def _reason(exc: JoseError) -> str:
    for claim, meaning in (("'aud'", "is meant for another audience (aud)"),
                           ("'iss'", "comes from another issuer (iss)")):
        if claim in str(exc.description):
            return f"The token {meaning}; use one the portal issued for this purpose."
    reasons = {
        "bad_signature": "The token's signature does not verify against the portal's keys.",
        "invalid_key_id": "The token names a signing key the portal does not publish (unknown or long retired).",
        "expired_token": "The token has expired; get a new one.",
        "decode_error": "This is not a JWT in compact serialisation.",
        "unsupported_algorithm": "The token is signed with an algorithm the portal does not accept (ES256 only).",
    }
    return reasons.get(exc.error, f"The token failed a check: {exc.description or exc.error}.")

"""What the connector trusts, kept on disk so that a restarted connector checks grants while the portal is down.

``<data-dir>/connector/trust.json`` holds the portal's issuer and JWKS, our organisation's id at the portal and
how far the revocation feed has been read. Grants themselves are kept in the database (``subscriptions``).

A grant (DESIGN §4) is checked offline here (``check_grant``): an ES256 signature by a key of the cached JWKS,
``typ`` ``grant+jwt`` (RFC 8725 §3.11), ``iss`` the portal, ``aud`` our organisation, ``exp``/``nbf`` with a
leeway, and for real-time subscriptions the window validFrom/validTo.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from connector.codes import Code
from connector.errors import GrantRefused
from connector.spi import GrantClaims

GRANT_TYPE = "grant+jwt"
ALGORITHMS = ["ES256"]


@dataclass
class Trust:
    issuer: str | None = None
    org_id: str | None = None
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    revocations_since: int = 0
    endpoint_url: str | None = None  # what the portal shows partners as this connector's endpoint


class TrustStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.trust = self._load()

    def _load(self) -> Trust:
        if not self.path.exists():
            return Trust()
        raw = orjson.loads(self.path.read_bytes())
        return Trust(raw.get("issuer"), raw.get("orgId"), raw.get("jwks") or {"keys": []},
                     int(raw.get("revocationsSince", 0)), raw.get("endpointUrl"))

    def save(self) -> None:
        """Atomically: a crash leaves the old file or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"issuer": self.trust.issuer, "orgId": self.trust.org_id,
                                      "jwks": self.trust.jwks, "revocationsSince": self.trust.revocations_since,
                                      "endpointUrl": self.trust.endpoint_url,
                                      "savedAt": datetime.now(UTC).isoformat()}, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.path)

    def update(self, **changes: Any) -> bool:
        """Change what differs and save; True if anything changed."""
        changed = {k: v for k, v in changes.items() if getattr(self.trust, k) != v}
        for name, value in changed.items():
            setattr(self.trust, name, value)
        if changed:
            self.save()
        return bool(changed)


def check_grant(token: str, trust: Trust, *, leeway: int, now: datetime | None = None) -> GrantClaims:
    """The grant's claims if it admits a channel to us now; ``GrantRefused`` names the check that failed."""
    from joserfc import jwt  # imported here: `aadsys connector status` reads the trust cache, checks no grant
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    if not trust.issuer or not trust.org_id or not trust.jwks.get("keys"):
        raise GrantRefused(Code.NO_TRUST, "this connector has not yet reached the portal to learn its keys")
    now = now or datetime.now(UTC)
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(trust.jwks), algorithms=ALGORITHMS)  # type: ignore[arg-type]
    except JoseError as exc:
        code = {"bad_signature": Code.BAD_SIGNATURE, "invalid_key_id": Code.UNKNOWN_KEY}.get(exc.error,
                                                                                              Code.MALFORMED)
        raise GrantRefused(code, f"the grant is not signed by the portal: {exc.description or exc.error}") from None
    except (ValueError, TypeError) as exc:
        raise GrantRefused(Code.MALFORMED, f"the grant is not a JWT: {exc}") from None
    if decoded.header.get("typ") != GRANT_TYPE:
        raise GrantRefused(Code.WRONG_TYPE, f"the token is of type {decoded.header.get('typ')!r}, not a grant")
    claims = decoded.claims
    if claims.get("iss") != trust.issuer:
        raise GrantRefused(Code.WRONG_ISSUER, "the grant comes from another issuer than our portal")
    if claims.get("aud") != trust.org_id or claims.get("providerOrgId") != trust.org_id:
        raise GrantRefused(Code.WRONG_AUDIENCE, "the grant is for another provider")
    try:
        grant = GrantClaims(
            str(claims["subscriptionId"]), str(claims["providerOrgId"]), str(claims["consumerOrgId"]),
            str(claims["assetId"]), str(claims["assetType"]), str(claims["mode"]), _time(claims["validFrom"]),
            _time(claims["validTo"]), str(claims["consumerKeys"]["signing"]),
            str(claims["consumerKeys"]["encryption"]), datetime.fromtimestamp(int(claims["nbf"]), UTC),
            datetime.fromtimestamp(int(claims["exp"]), UTC))
    except (KeyError, TypeError, ValueError) as exc:
        raise GrantRefused(Code.MALFORMED, f"the grant lacks a claim or has a bad one: {exc}") from None
    skew = timedelta(seconds=leeway)
    if now >= grant.expires_at + skew:
        raise GrantRefused(Code.GRANT_EXPIRED, f"the grant expired at {grant.expires_at.isoformat()}; fetch a "
                                               "fresh one", grant.subscription_id)
    if now < grant.not_before - skew:
        raise GrantRefused(Code.NOT_YET_VALID, f"the grant is valid from {grant.not_before.isoformat()}",
                           grant.subscription_id)
    if grant.mode == "realtime" and not grant.valid_from - skew <= now < grant.valid_to:
        raise GrantRefused(Code.OUTSIDE_WINDOW, f"the subscription runs from {grant.valid_from.isoformat()} to "
                                             f"{grant.valid_to.isoformat()}; now is outside it", grant.subscription_id)
    return grant


def _time(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment.astimezone(UTC)

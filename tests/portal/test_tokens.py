"""Access tokens are checked in full: signature and key id, algorithm, type, issuer, audience and lifetime;
signing keys rotate without breaking tokens that are still valid."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.jwk import ECKey

from abm_portal.services import signed_tokens, signing_keys
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import assert_problem


def _claims(account: Account) -> dict[str, Any]:
    return {"sub": account.client_id, "client_id": account.client_id, "org": account.org_id, "scope": "connector"}


def _sign(portal: LivePortal, account: Account, *, audience: str | None = None, typ: str = "at+jwt",
          issued: datetime | None = None, ttl: timedelta = timedelta(minutes=5)) -> str:
    """A token signed with the portal's own current key, with the given flaws."""
    issued = issued or datetime.now(UTC)
    with portal.database.session() as db:
        return signed_tokens.sign(db, portal.settings, typ=typ, claims=_claims(account),
                                  audience=audience or portal.settings.api_audience, lifetime_end=issued + ttl,
                                  now=issued)


def _status_with(portal: LivePortal, token: str) -> Any:
    with portal.client(token) as api:
        return api.get("/api/v1/subscriptions")


def test_a_correct_token_signed_by_the_portal_is_accepted(live_portal: LivePortal, omis: Account) -> None:
    assert _status_with(live_portal, _sign(live_portal, omis)).status_code == 200


def test_an_expired_access_token_is_refused(live_portal: LivePortal, omis: Account) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    r = _status_with(live_portal, _sign(live_portal, omis, issued=long_ago))
    assert_problem(r, 401, says="expired")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_a_token_for_another_audience_is_refused(live_portal: LivePortal, omis: Account) -> None:
    r = _status_with(live_portal, _sign(live_portal, omis, audience="https://another-portal.example/api"))
    assert_problem(r, 401, says="another audience")


def test_a_grant_is_not_taken_for_an_access_token(live_portal: LivePortal, omis: Account) -> None:
    r = _status_with(live_portal, _sign(live_portal, omis, typ=signed_tokens.GRANT_TYPE))
    assert_problem(r, 401, says="type")


def test_a_token_forged_with_another_key_is_refused(live_portal: LivePortal, omis: Account) -> None:
    genuine = _sign(live_portal, omis)
    header = jws.extract_compact(genuine.encode()).headers()
    claims = json.loads(jws.extract_compact(genuine.encode()).payload)
    forger = ECKey.generate_key("P-256", private=True)
    same_kid = jwt.encode({"alg": "ES256", "kid": header["kid"], "typ": "at+jwt"}, claims, forger)
    assert_problem(_status_with(live_portal, same_kid), 401, says="signature does not verify")
    own_kid = jwt.encode({"alg": "ES256", "kid": forger.thumbprint(), "typ": "at+jwt"}, claims, forger)
    assert_problem(_status_with(live_portal, own_kid), 401, says="does not publish")


def test_an_unsigned_token_is_refused(live_portal: LivePortal, omis: Account) -> None:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    genuine = _sign(live_portal, omis)
    claims = json.loads(jws.extract_compact(genuine.encode()).payload)
    unsigned = f"{part({'alg': 'none', 'typ': 'at+jwt'})}.{part(claims)}."
    assert _status_with(live_portal, unsigned).status_code == 401


def test_after_key_rotation_old_tokens_verify_until_they_expire_and_new_ones_use_the_new_key(
        live_portal: LivePortal, omis: Account) -> None:
    old_token = live_portal.connector_token(omis)
    old_kid = jws.extract_compact(old_token.encode()).headers()["kid"]

    with live_portal.database.session() as db:
        new_kid = signing_keys.rotate(db, live_portal.settings, "test").kid
    assert new_kid != old_kid

    with live_portal.client() as anonymous:
        published = {k["kid"] for k in anonymous.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= published
    assert _status_with(live_portal, old_token).status_code == 200

    new_token = live_portal.connector_token(omis)
    assert jws.extract_compact(new_token.encode()).headers()["kid"] == new_kid
    assert _status_with(live_portal, new_token).status_code == 200

    # Once every token the old key may have signed has expired, the key leaves the JWKS.
    settings = live_portal.settings
    after_last_token = datetime.now(UTC) + timedelta(
        seconds=settings.longest_token_lifetime_seconds + settings.clock_skew_seconds + 1)
    with live_portal.database.session() as db:
        later = {k.kid for k in signing_keys.published_keys(db, settings, now=after_last_token)}
    assert new_kid in later and old_kid not in later

"""Grants checked offline (DESIGN §4): only a grant+jwt the portal signed for us, now, admits a channel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from connector.control._trust import Trust, TrustStore, check_grant
from connector.errors import GrantRefused
from connector.spi import GrantClaims

ISSUER = "https://portal.example"
PEC_ORG = "org-pec"
OMIS_ORG = "org-omis"
LEEWAY = 30
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONSUMER_KEYS = {"signing": "s" * 43, "encryption": "e" * 43}


@pytest.fixture(scope="module")
def portal_key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def other_key() -> ECKey:
    return ECKey.generate_key("P-256")


@pytest.fixture
def trust(portal_key: ECKey) -> Trust:
    """What the provider PEC's connector learnt from the portal: its issuer, its JWKS, our org id."""
    return Trust(issuer=ISSUER, org_id=PEC_ORG, jwks=KeySet([portal_key]).as_dict(private=False))


def claims(*, mode: str = "realtime", now: datetime = NOW, **changes: Any) -> dict[str, Any]:
    """The portal's claim set of a grant (``abm_portal.services.grants``) issued at ``now``."""
    base: dict[str, Any] = {
        "sub": "sub-1", "subscriptionId": "sub-1", "providerOrgId": PEC_ORG, "consumerOrgId": OMIS_ORG,
        "assetId": "asset-7", "assetType": "sales-order", "mode": mode,
        "validFrom": "2026-11-01T00:00:00Z", "validTo": "2026-12-01T00:00:00Z", "consumerKeys": CONSUMER_KEYS,
        "iss": ISSUER, "aud": PEC_ORG, "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()), "jti": str(uuid.uuid4()),
    }
    return {**base, **changes}


def sign(key: ECKey, claim_set: dict[str, Any], *, typ: str = "grant+jwt", kid: str | None = None) -> str:
    return jwt.encode({"alg": "ES256", "kid": kid or key.thumbprint(), "typ": typ}, claim_set, key)


def refused(token: str, trust: Trust, now: datetime = NOW) -> GrantRefused:
    with pytest.raises(GrantRefused) as refusal:
        check_grant(token, trust, leeway=LEEWAY, now=now)
    return refusal.value


def test_good_grant_gives_its_claims_with_aware_utc_times(portal_key: ECKey, trust: Trust) -> None:
    token = sign(portal_key, claims(validFrom="2026-11-01T08:00:00+08:00"))

    grant = check_grant(token, trust, leeway=LEEWAY, now=NOW)

    assert isinstance(grant, GrantClaims)
    assert (grant.subscription_id, grant.provider_org_id, grant.consumer_org_id) == ("sub-1", PEC_ORG, OMIS_ORG)
    assert (grant.asset_id, grant.asset_type, grant.mode) == ("asset-7", "sales-order", "realtime")
    assert (grant.consumer_signing_key, grant.consumer_encryption_key) == ("s" * 43, "e" * 43)
    assert grant.valid_from == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    assert grant.valid_to == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert grant.not_before == NOW and grant.expires_at == NOW + timedelta(hours=1)
    for moment in (grant.valid_from, grant.valid_to, grant.not_before, grant.expires_at):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def test_grant_signed_by_a_key_not_in_the_jwks_is_an_unknown_key(other_key: ECKey, trust: Trust) -> None:
    assert refused(sign(other_key, claims()), trust).code == "unknown-key"


def test_grant_forged_under_the_portals_kid_with_another_key_has_a_bad_signature(
        portal_key: ECKey, other_key: ECKey, trust: Trust) -> None:
    forged = sign(other_key, claims(), kid=portal_key.thumbprint())

    assert refused(forged, trust).code == "bad-signature"


def test_access_token_is_not_a_grant(portal_key: ECKey, trust: Trust) -> None:
    assert refused(sign(portal_key, claims(), typ="at+jwt"), trust).code == "wrong-type"


def test_grant_from_another_issuer_is_refused(portal_key: ECKey, trust: Trust) -> None:
    assert refused(sign(portal_key, claims(iss="https://evil.example")), trust).code == "wrong-issuer"


@pytest.mark.parametrize("changes", [{"aud": OMIS_ORG, "providerOrgId": OMIS_ORG}, {"aud": OMIS_ORG},
                                     {"providerOrgId": OMIS_ORG}], ids=["both", "aud", "providerOrgId"])
def test_grant_for_another_provider_is_the_wrong_audience(
        portal_key: ECKey, trust: Trust, changes: dict[str, str]) -> None:
    assert refused(sign(portal_key, claims(**changes)), trust).code == "wrong-audience"


def test_grant_expired_beyond_the_leeway_is_a_grant_expired_not_a_subscription_expired(portal_key: ECKey,
                                                                                         trust: Trust) -> None:
    token = sign(portal_key, claims(mode="historical", exp=int((NOW - timedelta(seconds=LEEWAY + 1)).timestamp())))

    refusal = refused(token, trust)

    assert refusal.code == "grant-expired" and refusal.subscription_id == "sub-1"


def test_grant_expired_within_the_leeway_still_admits(portal_key: ECKey, trust: Trust) -> None:
    token = sign(portal_key, claims(mode="historical", exp=int((NOW - timedelta(seconds=LEEWAY - 5)).timestamp())))

    assert check_grant(token, trust, leeway=LEEWAY, now=NOW).subscription_id == "sub-1"


def test_grant_whose_nbf_is_in_the_future_is_not_yet_valid(portal_key: ECKey, trust: Trust) -> None:
    token = sign(portal_key, claims(nbf=int((NOW + timedelta(minutes=5)).timestamp())))

    assert refused(token, trust).code == "not-yet-valid"


def test_realtime_grant_checked_after_valid_to_is_outside_the_window(portal_key: ECKey, trust: Trust) -> None:
    valid_to = NOW - timedelta(seconds=10)  # the portal caps exp at validTo; the leeway still covers exp
    token = sign(portal_key, claims(validTo=valid_to.isoformat(), exp=int(valid_to.timestamp())))

    assert refused(token, trust).code == "outside-window"


def test_realtime_grant_checked_before_valid_from_is_outside_the_window(portal_key: ECKey, trust: Trust) -> None:
    token = sign(portal_key, claims(validFrom=(NOW + timedelta(hours=1)).isoformat()))

    assert refused(token, trust).code == "outside-window"


def test_historical_grant_is_not_bound_to_its_range(portal_key: ECKey, trust: Trust) -> None:
    token = sign(portal_key, claims(mode="historical", validTo="2025-01-01T00:00:00Z"))

    assert check_grant(token, trust, leeway=LEEWAY, now=NOW).mode == "historical"


@pytest.mark.parametrize("missing", ["subscriptionId", "consumerKeys", "validTo", "nbf", "assetType"])
def test_grant_missing_a_claim_is_malformed(portal_key: ECKey, trust: Trust, missing: str) -> None:
    claim_set = claims()
    del claim_set[missing]

    assert refused(sign(portal_key, claim_set), trust).code == "malformed"


def test_grant_with_a_time_without_zone_is_malformed(portal_key: ECKey, trust: Trust) -> None:
    assert refused(sign(portal_key, claims(validFrom="2026-11-01T00:00:00")), trust).code == "malformed"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_what_is_not_a_jwt_is_malformed(trust: Trust, token: str) -> None:
    assert refused(token, trust).code == "malformed"


@pytest.mark.parametrize("trust", [Trust(), Trust(issuer=ISSUER, org_id=PEC_ORG),
                                   Trust(org_id=PEC_ORG, jwks={"keys": [{"kty": "EC"}]})],
                         ids=["empty", "no-keys", "no-issuer"])
def test_grant_checked_before_the_portal_was_reached_finds_no_trust(
        portal_key: ECKey, trust: Trust) -> None:
    assert refused(sign(portal_key, claims()), trust).code == "no-trust"


# -- the trust kept on disk ---------------------------------------------------------------------------------------

def test_trust_update_is_saved_and_read_back_by_a_new_store(tmp_path: Path, portal_key: ECKey) -> None:
    path = tmp_path / "connector" / "trust.json"
    jwks = KeySet([portal_key]).as_dict(private=False)

    assert TrustStore(path).update(issuer=ISSUER, org_id=PEC_ORG, jwks=jwks, revocations_since=12) is True

    assert TrustStore(path).trust == Trust(issuer=ISSUER, org_id=PEC_ORG, jwks=jwks, revocations_since=12)
    assert [p.name for p in path.parent.iterdir()] == ["trust.json"]  # no temporary file left behind


def test_trust_update_with_unchanged_values_returns_false_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    store = TrustStore(path)
    store.update(issuer=ISSUER, org_id=PEC_ORG)
    saved = path.read_bytes()

    assert store.update(issuer=ISSUER, org_id=PEC_ORG) is False
    assert path.read_bytes() == saved
    assert store.update(issuer=ISSUER, org_id=OMIS_ORG) is True
    assert TrustStore(path).trust.org_id == OMIS_ORG


def test_trust_store_without_a_file_trusts_nothing(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "absent.json")

    assert store.trust == Trust()
    assert not (tmp_path / "absent.json").exists()

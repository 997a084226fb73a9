"""Grants (DESIGN §4): what they say, who gets them and when, how the provider checks them, and when they stop."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

from abm_portal.models import Subscription
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import act, assert_problem, iso, now, publish, register_connector, request


@pytest.fixture
def asset(live_portal: LivePortal, omis: Account) -> dict:
    with live_portal.client(omis.admin_token) as provider:
        return publish(provider)


@pytest.fixture(scope="module")
def pec_keys(live_portal: LivePortal, pec: Account) -> dict[str, str]:
    return register_connector(live_portal, pec)


def _approved(live_portal: LivePortal, pec: Account, omis: Account, asset_id: str, *,
              start: datetime | None = None, end: datetime | None = None) -> str:
    """An approved real-time subscription of ``pec`` to ``asset_id``."""
    with live_portal.client(pec.admin_token) as consumer, live_portal.client(omis.admin_token) as provider:
        sub_id = request(consumer, asset_id, start=start, end=end)["id"]
        act(provider, sub_id, "approve")
    return str(sub_id)


def _grant(live_portal: LivePortal, account: Account, sub_id: str) -> dict:
    with live_portal.client(live_portal.connector_token(account)) as connector:
        r = connector.get(f"/api/v1/subscriptions/{sub_id}/grant")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _verify(live_portal: LivePortal, account: Account, sub_id: str, grant: str) -> dict:
    with live_portal.client(live_portal.connector_token(account)) as connector:
        r = connector.post(f"/api/v1/subscriptions/{sub_id}/verify", json={"grant": grant})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_grant_names_the_contract_and_the_consumers_keys_and_verifies_offline(
        live_portal: LivePortal, pec: Account, omis: Account, asset: dict, pec_keys: dict[str, str]) -> None:
    start, end = now() + timedelta(hours=1), now() + timedelta(days=90)
    sub_id = _approved(live_portal, pec, omis, asset["id"], start=start, end=end)
    issued = _grant(live_portal, pec, sub_id)

    with live_portal.client() as anonymous:  # as the provider's connector does: offline, against the JWKS
        jwks = KeySet.import_key_set(anonymous.get("/.well-known/jwks.json").json())
    token = jwt.decode(issued["grant"], jwks, algorithms=["ES256"])
    claims = token.claims
    assert token.header["typ"] == "grant+jwt"
    assert {k: claims[k] for k in ("sub", "subscriptionId", "providerOrgId", "consumerOrgId", "assetId",
                                   "assetType", "mode", "validFrom", "validTo", "consumerKeys", "iss", "aud")} == {
        "sub": sub_id, "subscriptionId": sub_id, "providerOrgId": omis.org_id, "consumerOrgId": pec.org_id,
        "assetId": asset["id"], "assetType": asset["assetType"], "mode": "realtime", "validFrom": iso(start),
        "validTo": iso(end), "consumerKeys": {"signing": pec_keys["signingKey"],
                                              "encryption": pec_keys["encryptionKey"]},
        "iss": live_portal.settings.issuer, "aud": omis.org_id}
    assert claims["nbf"] == int(start.timestamp())  # not before the window opens
    assert claims["exp"] - claims["nbf"] == live_portal.settings.grant_max_ttl_seconds  # refreshed, not window-long
    assert datetime.fromisoformat(issued["expiresAt"]).timestamp() == claims["exp"]


def test_a_realtime_grant_never_outlives_the_window_and_refresh_gives_a_new_one(
        live_portal: LivePortal, pec: Account, omis: Account, asset: dict, pec_keys: dict[str, str]) -> None:
    end = now() + timedelta(hours=2)
    sub_id = _approved(live_portal, pec, omis, asset["id"], end=end)
    first, second = _grant(live_portal, pec, sub_id), _grant(live_portal, omis, sub_id)
    claims = [jws.extract_compact(g["grant"].encode()).payload for g in (first, second)]
    assert claims[0] != claims[1]  # a fresh jti each time
    assert datetime.fromisoformat(first["expiresAt"]) == end


def test_no_grant_before_approval_without_consumer_keys_or_for_strangers(
        live_portal: LivePortal, pec: Account, omis: Account, asset: dict, pec_keys: dict[str, str]) -> None:
    with live_portal.client(pec.admin_token) as consumer:
        sub_id = request(consumer, asset["id"])["id"]
        assert_problem(consumer.get(f"/api/v1/subscriptions/{sub_id}/grant"), 409, says="requested")
    keyless = live_portal.register("Keyless")
    keyless_sub = _approved(live_portal, keyless, omis, asset["id"])
    with live_portal.client(keyless.admin_token) as consumer:
        assert_problem(consumer.get(f"/api/v1/subscriptions/{keyless_sub}/grant"), 409, says="PUT /api/v1/connector")
    stranger = live_portal.register("Stranger")
    with live_portal.client(stranger.admin_token) as other:
        assert_problem(other.get(f"/api/v1/subscriptions/{keyless_sub}/grant"), 404)


def test_the_providers_online_check_activates_the_subscription(live_portal: LivePortal, pec: Account,
                                                               omis: Account, asset: dict,
                                                               pec_keys: dict[str, str]) -> None:
    sub_id = _approved(live_portal, pec, omis, asset["id"])
    grant = _grant(live_portal, pec, sub_id)["grant"]
    by_consumer = _verify(live_portal, pec, sub_id, grant)
    assert (by_consumer["valid"], by_consumer["state"]) == (True, "approved")
    by_provider = _verify(live_portal, omis, sub_id, grant)
    assert (by_provider["valid"], by_provider["state"], by_provider["reason"]) == (True, "active", None)


def test_verify_refuses_forged_misplaced_revoked_and_expired_grants(live_portal: LivePortal, pec: Account,
                                                                     omis: Account, asset: dict,
                                                                     pec_keys: dict[str, str]) -> None:
    sub_id = _approved(live_portal, pec, omis, asset["id"])
    other_id = _approved(live_portal, pec, omis, asset["id"])
    grant = _grant(live_portal, pec, sub_id)["grant"]

    genuine = jws.extract_compact(grant.encode())
    forged = jwt.encode(genuine.headers(), json.loads(genuine.payload), ECKey.generate_key("P-256", private=True))
    assert _verify(live_portal, omis, sub_id, forged)["reason"].startswith("The token's signature does not verify")
    misplaced = _verify(live_portal, omis, other_id, grant)
    assert (misplaced["valid"], misplaced["reason"]) == (False, "The grant is for another subscription.")

    with live_portal.client(omis.admin_token) as provider:
        act(provider, sub_id, "revoke", reason="Partner left")
    revoked = _verify(live_portal, omis, sub_id, grant)
    assert (revoked["valid"], revoked["state"], revoked["reason"]) == (False, "revoked",
                                                                        "The subscription is revoked: Partner left")

    other_grant = _grant(live_portal, pec, other_id)["grant"]
    with live_portal.database.session() as db:  # the window closes: move its end into the past
        row = db.get(Subscription, other_id)
        assert row is not None
        row.valid_to = datetime.now(UTC) - timedelta(seconds=1)
        db.add(row)
        db.commit()
    expired = _verify(live_portal, omis, other_id, other_grant)
    assert (expired["valid"], expired["state"]) == (False, "expired")
    with live_portal.client(pec.admin_token) as consumer:
        assert_problem(consumer.get(f"/api/v1/subscriptions/{other_id}/grant"), 409, says="expired")
        # the expiry sweep (every expiry_sweep_seconds) records the revocation connectors poll
        deadline, feed = time.monotonic() + 10, []
        while time.monotonic() < deadline and (other_id, "expired") not in {
                (r["subscriptionId"], r["state"]) for r in feed}:
            time.sleep(0.2)
            feed = consumer.get("/api/v1/revocations").json()["items"]
    assert {(r["subscriptionId"], r["state"]) for r in feed} >= {(sub_id, "revoked"), (other_id, "expired")}


def test_the_revocation_feed_is_paged_by_seq_and_shows_only_your_own(live_portal: LivePortal, pec: Account,
                                                                     omis: Account, asset: dict) -> None:
    with live_portal.client(live_portal.connector_token(pec)) as connector:
        start = connector.get("/api/v1/revocations").json()["next"]
    sub_id = _approved(live_portal, pec, omis, asset["id"])
    with live_portal.client(pec.admin_token) as consumer:
        act(consumer, sub_id, "cancel", reason="Moved to another supplier")
    with live_portal.client(live_portal.connector_token(pec)) as connector:
        page = connector.get("/api/v1/revocations", params={"since": start}).json()
        assert [(r["subscriptionId"], r["state"], r["reason"]) for r in page["items"]] == [
            (sub_id, "cancelled", "Moved to another supplier")]
        assert connector.get("/api/v1/revocations", params={"since": page["next"]}).json()["items"] == []
        assert_problem(connector.get("/api/v1/revocations", params={"since": -1}), 422, field="since")
    stranger = live_portal.register("Stranger")
    with live_portal.client(stranger.admin_token) as other:
        assert other.get("/api/v1/revocations").json() == {"items": [], "next": 0}

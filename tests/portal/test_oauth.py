"""Connector identity: the OAuth2 client-credentials grant (RFC 6749 §4.4), bearer auth (RFC 6750), JWKS."""

from __future__ import annotations

from joserfc import jws

from abm_portal.services import clients, personal_tokens, users
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import assert_problem


def test_client_credentials_by_basic_auth_give_a_short_lived_bearer_token(live_portal: LivePortal,
                                                                          omis: Account) -> None:
    with live_portal.client() as anonymous:
        r = anonymous.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(omis.client_id, omis.client_secret))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300 and body["scope"] == "connector"
    assert r.headers["cache-control"] == "no-store"

    with live_portal.client(body["access_token"]) as api:
        own = api.get(f"/api/v1/organisations/{omis.org_id}")
    assert own.status_code == 200
    assert own.json()["clientId"] == omis.client_id


def test_client_credentials_in_the_form_body_work_too(live_portal: LivePortal, omis: Account) -> None:
    with live_portal.client() as anonymous:
        r = anonymous.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "connector",
                                                 "client_id": omis.client_id, "client_secret": omis.client_secret})
    assert r.status_code == 200, r.text


def test_wrong_or_missing_client_credentials_are_invalid_client(live_portal: LivePortal, omis: Account) -> None:
    form = {"grant_type": "client_credentials"}
    with live_portal.client() as anonymous:
        answers = [anonymous.post("/oauth/token", data=form, auth=(omis.client_id, "abms_not-the-secret")),
                   anonymous.post("/oauth/token", data=form, auth=("abmc_unknown", omis.client_secret)),
                   anonymous.post("/oauth/token", data=form)]
    for r in answers:
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"
        assert r.headers["www-authenticate"].startswith("Basic")


def test_other_grant_types_and_scopes_are_refused_as_rfc_6749_says(live_portal: LivePortal, omis: Account) -> None:
    auth = (omis.client_id, omis.client_secret)
    cases = [({"grant_type": "password"}, "unsupported_grant_type"), ({}, "invalid_request"),
             ({"grant_type": "client_credentials", "scope": "admin"}, "invalid_scope"),
             ({"grant_type": "client_credentials", "client_secret": omis.client_secret}, "invalid_request")]
    with live_portal.client() as anonymous:
        for form, error in cases:
            r = anonymous.post("/oauth/token", data=form, auth=auth)
            assert (r.status_code, r.json()["error"]) == (400, error), r.text
            assert r.json()["error_description"]


def test_a_rotated_client_secret_stops_working_at_once(live_portal: LivePortal) -> None:
    account = live_portal.register("Rotating")
    with live_portal.database.session() as db:
        admin = users.find_user(db, account.admin_email)
        client_id, new_secret = clients.rotate_client_secret(db, users.actor_for_user(db, admin))
    with live_portal.client() as anonymous:
        old = anonymous.post("/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, account.client_secret))
        new = anonymous.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, new_secret))
    assert (old.status_code, new.status_code) == (401, 200)


def test_api_calls_without_valid_bearer_token_get_401_with_a_challenge(live_portal: LivePortal,
                                                                      pec: Account) -> None:
    with live_portal.client() as anonymous:
        r = anonymous.get("/api/v1/assets")
    assert_problem(r, 401, says="Authorization: Bearer")
    assert r.headers["www-authenticate"] == 'Bearer realm="abm-portal"'

    with live_portal.client("not-a-jwt") as api:
        r = api.get("/api/v1/assets")
    assert_problem(r, 401, says="not a JWT")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_a_revoked_personal_token_is_refused(live_portal: LivePortal) -> None:
    account = live_portal.register("Scripted")
    with live_portal.client(account.admin_token) as api:
        assert api.get("/api/v1/subscriptions").status_code == 200
    with live_portal.database.session() as db:
        actor = users.actor_for_user(db, users.find_user(db, account.admin_email))
        (token,) = personal_tokens.list_personal_tokens(db, actor)
        assert token.last_used_at is not None
        personal_tokens.revoke_personal_token(db, actor, token.id)
    with live_portal.client(account.admin_token) as api:
        assert_problem(api.get("/api/v1/subscriptions"), 401, says="revoked")


def test_jwks_and_server_metadata_say_how_to_verify_tokens(live_portal: LivePortal, omis: Account) -> None:
    token = live_portal.connector_token(omis)
    with live_portal.client() as anonymous:
        jwks = anonymous.get("/.well-known/jwks.json").json()
        meta = anonymous.get("/.well-known/oauth-authorization-server").json()
    kid = jws.extract_compact(token.encode()).headers()["kid"]
    assert kid in {k["kid"] for k in jwks["keys"]}
    assert all(k["kty"] == "EC" and k["alg"] == "ES256" and "d" not in k for k in jwks["keys"])
    assert meta["issuer"] == live_portal.settings.issuer
    assert meta["grant_types_supported"] == ["client_credentials"]

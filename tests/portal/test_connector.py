"""A connector registers its endpoint and public keys; partners find them through the portal."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from abm_portal.services.actors import ORG_MEMBER
from tests.portal.conftest import Account, LivePortal
from tests.portal.flows import assert_problem, connector_keys, raw_b64url


def test_connector_registers_and_partners_see_its_endpoint_and_keys(live_portal: LivePortal, pec: Account,
                                                                    omis: Account) -> None:
    keys = connector_keys()
    with live_portal.client(live_portal.connector_token(omis)) as connector:
        r = connector.put("/api/v1/connector", json={"endpointUrl": "https://connector.omis.example:9443/", **keys})
    assert r.status_code == 200, r.text
    assert r.json()["endpointUrl"] == "https://connector.omis.example:9443"

    with live_portal.client(pec.admin_token) as partner:
        seen = partner.get(f"/api/v1/organisations/{omis.org_id}").json()
    assert seen == {"id": omis.org_id, "name": omis.name, "description": "OMIS for one test",
                    "endpointUrl": "https://connector.omis.example:9443", "clientId": None, **keys}


def test_pem_keys_are_stored_as_raw_base64url(live_portal: LivePortal) -> None:
    account = live_portal.register("Pem")
    signing = ed25519.Ed25519PrivateKey.generate().public_key()
    encryption = x25519.X25519PrivateKey.generate().public_key()
    pem = {"signingKey": signing.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode(),
           "encryptionKey": encryption.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()}
    with live_portal.client(account.admin_token) as admin:
        r = admin.put("/api/v1/connector", json={"endpointUrl": "http://127.0.0.1:9001", **pem})
    assert r.status_code == 200, r.text
    assert r.json()["signingKey"] == raw_b64url(signing.public_bytes(Encoding.Raw, PublicFormat.Raw))
    assert r.json()["encryptionKey"] == raw_b64url(encryption.public_bytes(Encoding.Raw, PublicFormat.Raw))


def test_bad_endpoints_and_keys_are_refused_naming_the_field(live_portal: LivePortal, omis: Account) -> None:
    good = {"endpointUrl": "https://connector.omis.example", **connector_keys()}
    x25519_pem = x25519.X25519PrivateKey.generate().public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    cases = [({"endpointUrl": "ftp://connector.omis.example"}, "endpointUrl", "not an http(s) URL"),
             ({"endpointUrl": "https://[::1:9443"}, "endpointUrl", "not an http(s) URL"),  # was a 500
             ({"signingKey": "not base64!"}, "signingKey", "not base64url"),
             ({"signingKey": raw_b64url(b"short")}, "signingKey", "has 5"),
             ({"signingKey": x25519_pem}, "signingKey", "not an Ed25519 key"),
             ({"encryptionKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}, "encryptionKey",
              "not a readable public key")]
    with live_portal.client(omis.admin_token) as admin:
        for change, field, says in cases:
            assert_problem(admin.put("/api/v1/connector", json={**good, **change}), 422, field=field, says=says)
        assert_problem(admin.put("/api/v1/connector", json={**good, "endpoint": "x"}), 422, field="endpoint",
                       says="extra")
        missing = {k: v for k, v in good.items() if k != "signingKey"}
        assert_problem(admin.put("/api/v1/connector", json=missing), 422, field="signingKey")


def test_a_member_may_not_change_the_connector(live_portal: LivePortal, omis: Account) -> None:
    member = live_portal.add_person(omis, ORG_MEMBER)
    with live_portal.client(member) as api:
        r = api.put("/api/v1/connector", json={"endpointUrl": "https://evil.example", **connector_keys()})
    assert_problem(r, 403, says="administrator")


def test_an_unknown_organisation_is_404(live_portal: LivePortal, pec: Account) -> None:
    with live_portal.client(pec.admin_token) as api:
        assert_problem(api.get("/api/v1/organisations/no-such-org"), 404)

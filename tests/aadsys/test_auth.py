"""API keys: 401 without or with a bad key, 403 without the scope, anonymous AAS read only when allowed."""

from __future__ import annotations

from aadsys.core import api_keys
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from tests.aadsys.conftest import CANONICAL_ORDER, Gateway
from tests.support.live_server import live_server, loopback_client

BASE = "/api/v1/asset-types/sales-order/instances"


def test_missing_key_is_401_with_a_hint(gateway: Gateway) -> None:
    with gateway.client(key=None) as anon:
        r = anon.get(BASE)
    assert r.status_code == 401
    assert "X-API-Key" in r.json()["detail"]
    assert r.headers["www-authenticate"]


def test_unknown_key_is_401(gateway: Gateway) -> None:
    with gateway.client(key="aak_0000000000000000_nope") as c:
        assert c.get(BASE).status_code == 401


def test_read_key_cannot_write(gateway: Gateway) -> None:
    with gateway.client("read") as reader:
        r = reader.post(BASE, json=CANONICAL_ORDER)
        assert r.status_code == 403 and "write" in r.json()["detail"]
        assert reader.get(BASE).status_code == 200


def test_revoked_key_stops_working_at_once(gateway: Gateway) -> None:
    api_keys.revoke_key(gateway.ctx.db, "reporting")
    with gateway.client("read") as reader:
        assert reader.get(BASE).status_code == 401


def test_aas_api_needs_a_key_unless_anonymous_read_is_enabled(gateway: Gateway) -> None:
    with gateway.client(key=None) as anon:
        r = anon.get("/api/v3.0/shells")
        assert r.status_code == 401
        assert r.json()["messages"][0]["code"] == "401"
    settings = gateway.ctx.settings.model_copy(update={"aas_anonymous_read": True})
    ctx = AadsysContext.build(settings)
    with live_server(create_app(settings, context=ctx)) as url, loopback_client(base_url=url) as anon:
        assert anon.get("/api/v3.0/shells").status_code == 200
        assert anon.get(BASE).status_code == 401
    ctx.db.dispose()


def test_every_business_route_requires_a_key(gateway: Gateway) -> None:
    with gateway.client(key=None) as anon:
        for method, path in [("GET", "/api/v1/asset-types"), ("POST", BASE), ("GET", BASE),
                             ("GET", f"{BASE}/SO-1"), ("POST", "/api/v1/files"), ("GET", "/api/v1/files/" + "0" * 64),
                             ("GET", "/api/v1/events")]:
            assert anon.request(method, path).status_code == 401, (method, path)

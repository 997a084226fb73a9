"""The read path serves stored bytes and caches API keys (issue 10); neither may ever serve something stale."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import httpx
import orjson

from aadsys.config import Settings
from aadsys.gateway.stored_reads import StoredReads
from aas_models import business_json
from aas_models.serialization import value_only
from tests.aadsys.conftest import Gateway, order, stock

BASE = "/api/v1/asset-types/sales-order/instances"
STATUS = "/api/v1/asset-types/sales-order-status/instances"


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def test_a_key_revoked_through_the_cli_fails_on_the_very_next_request(gateway: Gateway, settings: Settings) -> None:
    """The key is cached by the running server first; the CLI revokes it from another process."""
    with gateway.client("read") as reader:
        one_shell = f"/api/v3.0/shells/{_b64(reader.get('/api/v3.0/shells').json()['result'][0]['id'])}"
        for _ in range(3):
            assert reader.get(BASE).status_code == 200
            assert reader.get("/api/v3.0/shells").status_code == 200
            assert reader.get(one_shell).status_code == 200  # answered by StoredReads
        env = {**os.environ, "AADSYS_DATABASE_URL": settings.resolved_database_url, "AADSYS_ORG": settings.org,
               "AADSYS_BASE_IRI": settings.base_iri}
        done = subprocess.run([sys.executable, "-m", "aadsys", "keys", "revoke", "--name", "reporting",
                               "--data-dir", str(settings.data_dir)], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert reader.get(BASE).status_code == 401
        assert reader.get("/api/v3.0/shells").status_code == 401
        assert reader.get(one_shell).status_code == 401
    with gateway.client("write") as writer:  # the other key is untouched
        assert writer.get(BASE).status_code == 200


def test_a_key_made_through_the_cli_works_on_the_very_next_request(gateway: Gateway, settings: Settings) -> None:
    with gateway.client("read") as reader:
        assert reader.get(BASE).status_code == 200
    env = {**os.environ, "AADSYS_DATABASE_URL": settings.resolved_database_url, "AADSYS_ORG": settings.org,
           "AADSYS_BASE_IRI": settings.base_iri}
    done = subprocess.run([sys.executable, "-m", "aadsys", "keys", "create", "--name", "dashboard", "--scope", "read",
                           "--data-dir", str(settings.data_dir)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with gateway.client(done.stdout.strip().splitlines()[-1]) as dashboard:
        assert dashboard.get(BASE).status_code == 200


def test_a_new_instance_and_a_new_revision_are_visible_to_the_next_read(gateway: Gateway) -> None:
    with gateway.client("write") as api:
        assert api.get("/api/v3.0/shells").status_code == 200  # the type level is loaded and kept
        created = api.post(BASE, json=order("SO-4242")).json()
        shell = api.get(created["links"]["aas"])
        assert shell.status_code == 200 and shell.json()["id"].endswith("/sales-order/SO-4242")
        stored = api.get(f"{BASE}/SO-4242", params={"format": "aas"}).content
        submodel_id = orjson.loads(stored)["submodels"][0]["id"]
        submodel = api.get(f"/api/v3.0/submodels/{_b64(submodel_id)}")
        assert submodel.json() == orjson.loads(stored)["submodels"][0]
        assert api.get(f"{BASE}/SO-4242").json() == business_json("sales-order", stored)
        assert [i["key"] for i in api.get(BASE).json()["items"]] == ["SO-4242"]
        shells = api.get("/api/v3.0/shells", params={"limit": 1000}).json()["result"]
        assert shell.json() in shells

        status = {"orderId": "SO-4242", "status": "received", "trace": [], "updatedAt": "2026-11-22T10:16:00Z"}
        assert api.post(STATUS, json=status).status_code == 201
        status_sm = _b64("https://pec.example/ids/sm/sales-order-status/SO-4242/SalesOrderStatus")
        value = f"/api/v3.0/submodels/{status_sm}/$value"
        element = f"/api/v3.0/submodels/{status_sm}/submodel-elements/status/$value"  # kept parsed by StoredReads
        assert api.get(value).json()["status"] == "received" == api.get(element).json()
        assert api.post(STATUS, json={**status, "status": "scheduled"}).status_code == 201
        assert api.get(value).json()["status"] == "scheduled" == api.get(element).json()
        latest = api.get(f"{STATUS}/SO-4242", params={"format": "aas"}).content
        assert api.get(value).json() == value_only(orjson.loads(latest)["submodels"][0])
        assert api.get(f"/api/v3.0/submodels/{status_sm}").json() == orjson.loads(latest)["submodels"][0]
        assert api.get(f"{STATUS}/SO-4242").json()["status"] == "scheduled"


def test_modifiers_that_change_the_bytes_are_still_applied(gateway: Gateway) -> None:
    """Stored bytes answer only the default modifiers; level=core and $value of a template still work."""
    with gateway.client("write") as api:
        api.post(BASE, json=order("SO-4243"))
        stored = orjson.loads(api.get(f"{BASE}/SO-4243", params={"format": "aas"}).content)["submodels"][0]
        url = f"/api/v3.0/submodels/{_b64(stored['id'])}"
        core = api.get(url, params={"level": "core"}).json()
        collections = [e for e in core["submodelElements"] if e["modelType"] == "SubmodelElementList"]
        assert collections and all("value" not in e for e in collections)
        assert api.get(f"{url}/$value", params={"level": "core"}).json() == value_only(
            stored, *_modifiers("core"))
        templates = api.get("/api/v3.0/submodels", params={"limit": 3}).json()["result"]
        for template in templates:
            answer = api.get(f"/api/v3.0/submodels/{_b64(template['id'])}/$value")
            assert answer.status_code == 200 and answer.json() == value_only(template)


def _modifiers(level: str) -> tuple:
    from aas_models.serialization import Extent, Level

    return Level(level), Extent.withoutBlobValue


def _stored_reads(gateway: Gateway) -> StoredReads:
    layer = gateway.app.middleware_stack
    while not isinstance(layer, StoredReads):
        layer = layer.app  # type: ignore[union-attr]
    return layer


def _answer(response: httpx.Response) -> tuple[int, str, str, bytes]:
    return (response.status_code, response.headers["content-type"], response.headers["content-length"],
            response.content)


def test_stored_reads_answer_byte_for_byte_as_the_routes_do(gateway: Gateway) -> None:
    """StoredReads answers a shell, a submodel and its $value before routing; the routes answer the same request
    with a query added (StoredReads lets every request with a query through). Both answers must be equal."""
    with gateway.client("write") as api:
        api.post(BASE, json=order("SO-4244", items=[{**order("x")["items"][0], "labelText": "Grüße ☀"}]))
        api.post(STATUS, json={"orderId": "SO-4244", "status": "received", "trace": [],
                               "updatedAt": "2026-11-22T10:16:00Z"})
        environments = [orjson.loads(api.get(f"{base}/SO-4244", params={"format": "aas"}).content)
                        for base in (BASE, STATUS)]
        templates = api.get("/api/v3.0/submodels", params={"limit": 2}).json()["result"]
        type_shell = api.get("/api/v3.0/shells", params={"limit": 1}).json()["result"][0]
    shells = [type_shell["id"]] + [env["assetAdministrationShells"][0]["id"] for env in environments]
    submodels = [t["id"] for t in templates] + [sm["id"] for env in environments for sm in env["submodels"]]
    paths = ([f"/api/v3.0/shells/{_b64(s)}" for s in shells]
             + [f"/api/v3.0/submodels/{_b64(s)}{tail}" for s in submodels for tail in ("", "/$value")])
    lane = _stored_reads(gateway)
    with gateway.client("read") as reader:
        before = lane.served
        fast = [_answer(reader.get(path)) for path in paths]
        assert lane.served - before == len(paths)
        routed = [_answer(reader.get(path, params={"via": "routes"})) for path in paths]
        assert lane.served - before == len(paths)
    assert all(status == 200 for status, *_ in fast)
    assert fast == routed


def test_element_reads_from_stored_bytes_equal_the_routes_byte_for_byte(gateway: Gateway) -> None:
    """Every element of every submodel of all three asset types (a File linking its stored label image, a revised
    status, the templates), by idShortPath and as $value: StoredReads answers each, the routes the same request
    with a query added, and the two answers are equal, headers included."""
    stock(gateway)
    with gateway.client("read") as api:
        submodels = [s["id"] for s in api.get("/api/v3.0/submodels", params={"limit": 100}).json()["result"]]
        paths = [f"/api/v3.0/submodels/{_b64(s)}/submodel-elements/{p}{tail}" for s in submodels
                 for p in api.get(f"/api/v3.0/submodels/{_b64(s)}/$path").json() for tail in ("", "/$value")]
    assert any("labelImage" in p for p in paths) and len(paths) > 200
    lane = _stored_reads(gateway)
    with gateway.client("read") as reader:
        before = lane.served
        fast = [_answer(reader.get(path)) for path in paths]
        assert lane.served - before == len(paths)
        routed = [_answer(reader.get(path, params={"via": "routes"})) for path in paths]
    assert all(status == 200 for status, *_ in fast)
    assert fast == routed
    assert any(b"/api/v1/files/" in body for *_, body in fast)  # the File's digest served as its link


def test_reads_that_fail_are_left_to_the_routes(gateway: Gateway, settings: Settings) -> None:
    """Errors come from the routes alone, as Part 2 Result bodies: StoredReads answers none of them."""
    shell = _b64("https://pec.example/ids/aas/sales-order/SO-4245")
    submodel = f"/api/v3.0/submodels/{_b64('https://pec.example/ids/sm/sales-order/SO-4245/SalesOrder')}"
    with gateway.client("write") as api:
        api.post(BASE, json=order("SO-4245"))
    lane = _stored_reads(gateway)
    before = lane.served
    cases = [(None, f"/api/v3.0/shells/{shell}", 401), ("nonsense", f"/api/v3.0/shells/{shell}", 401),
             ("write", f"/api/v3.0/shells/{_b64('urn:nothing:here')}", 404),
             ("write", f"/api/v3.0/submodels/{_b64('urn:nothing:here')}/$value", 404),
             ("write", "/api/v3.0/shells/_w", 404),  # base64url of a byte that is not UTF-8: names nothing
             ("write", "/api/v3.0/shells/a", 400),  # not base64url: no decoder takes one character
             ("write", f"{submodel}/submodel-elements/nothing", 404),
             ("write", f"{submodel}/submodel-elements/items[7]/$value", 404),
             ("write", f"{submodel}/submodel-elements/total.cents", 404),
             ("write", f"{submodel}/submodel-elements/items[0]..x", 400),
             (None, f"{submodel}/submodel-elements/total", 401)]
    for key, path, status in cases:
        with gateway.client(key) as client:
            answer = client.get(path)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["messages"][0]["code"] == str(status), answer.text
    with gateway.client("write") as api:
        assert api.get(f"/api/v3.0/shells/{shell}/$value").status_code == 404  # no such route
    with gateway.client("write") as api:
        assert api.get("/api/v3.0/shells/$reference").json()["result"]  # a route, not an identifier
    assert lane.served == before

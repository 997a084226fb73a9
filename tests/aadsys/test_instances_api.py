"""Business API: instances are created idempotently, read back in both formats, and listed by range."""

from __future__ import annotations

import base64
import io
import json

import httpx
import orjson
from basyx.aas.adapter.json import read_aas_json_file
from sqlmodel import func, select

from aadsys.core.tables import InstanceRow
from aas_models import validate_environment
from tests.aadsys.conftest import CANONICAL_ORDER, Gateway, order

BASE = "/api/v1/asset-types/sales-order/instances"


def _count_instances(gateway: Gateway) -> int:
    with gateway.ctx.db.session() as s:
        return s.exec(select(func.count()).select_from(InstanceRow)).one()


def test_canonical_sales_order_is_created_then_read_back_as_business_json(api: httpx.Client) -> None:
    created = api.post(BASE, json=CANONICAL_ORDER)
    assert created.status_code == 201, created.text
    receipt = created.json()
    assert receipt["key"] == "SO-1001" and receipt["revision"] == 1 and len(receipt["sha256"]) == 64
    assert created.headers["location"] == f"{BASE}/SO-1001"
    got = api.get(f"{BASE}/SO-1001")
    assert got.status_code == 200
    assert got.json()["orderId"] == "SO-1001"
    assert got.json()["items"][0]["ingredients"] == CANONICAL_ORDER["items"][0]["ingredients"]
    assert got.json()["total"] == "25.80"


def test_same_order_posted_twice_is_idempotent(api: httpx.Client, gateway: Gateway) -> None:
    first = api.post(BASE, json=CANONICAL_ORDER)
    again = api.post(BASE, json=CANONICAL_ORDER)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["sha256"] == again.json()["sha256"]
    assert _count_instances(gateway) == 1


def test_same_key_with_other_content_is_a_conflict_for_sales_orders(api: httpx.Client, gateway: Gateway) -> None:
    api.post(BASE, json=CANONICAL_ORDER)
    changed = order("SO-1001", channel="mobile")
    response = api.post(BASE, json=changed)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "SO-1001" in response.json()["detail"]
    assert _count_instances(gateway) == 1


def test_new_status_for_an_order_is_the_next_revision(api: httpx.Client) -> None:
    url = "/api/v1/asset-types/sales-order-status/instances"
    status = {"orderId": "SO-1001", "status": "received", "trace": [], "updatedAt": "2026-11-22T10:16:00Z"}
    assert api.post(url, json=status).json()["revision"] == 1
    assert api.post(url, json=status).status_code == 200
    scheduled = {**status, "status": "scheduled", "updatedAt": "2026-11-22T10:20:00Z"}
    second = api.post(url, json=scheduled)
    assert second.status_code == 201 and second.json()["revision"] == 2
    assert api.get(f"{url}/SO-1001").json()["status"] == "scheduled"
    assert api.get(f"{url}/SO-1001", params={"revision": 1}).json()["status"] == "received"
    assert api.get(f"{url}/SO-1001", params={"revision": 3}).status_code == 404


def test_instance_is_served_as_aas_json_on_request(api: httpx.Client) -> None:
    api.post(BASE, json=CANONICAL_ORDER)
    by_accept = api.get(f"{BASE}/SO-1001", headers={"Accept": "application/aas+json"})
    by_query = api.get(f"{BASE}/SO-1001", params={"format": "aas"})
    assert by_accept.headers["content-type"].startswith("application/aas+json")
    assert by_accept.content == by_query.content
    env = orjson.loads(by_accept.content)
    assert env["assetAdministrationShells"][0]["id"] == "https://pec.example/ids/aas/sales-order/SO-1001"


def test_aas_json_posted_back_is_stored_as_the_same_instance(api: httpx.Client) -> None:
    api.post(BASE, json=CANONICAL_ORDER)
    aas = api.get(f"{BASE}/SO-1001", params={"format": "aas"}).content
    again = api.post(BASE, content=aas, headers={"Content-Type": "application/aas+json"})
    assert again.status_code == 200


def test_listing_pages_through_a_date_range_without_gaps_or_repeats(api: httpx.Client) -> None:
    for n in range(7):
        assert api.post(BASE, json=order(f"SO-{2000 + n}")).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get(BASE, params=params).json()
        seen += [item["key"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"SO-{2000 + n}" for n in range(7)]
    first = api.get(BASE, params={"limit": 1}).json()["items"][0]
    window = api.get(BASE, params={"from": first["createdAt"], "to": first["createdAt"]}).json()["items"]
    assert [i["key"] for i in window] == ["SO-2000"]
    assert window[0]["data"]["orderId"] == "SO-2000"


def test_range_with_to_before_from_is_refused(api: httpx.Client) -> None:
    r = api.get(BASE, params={"from": "2026-11-22T12:00:00Z", "to": "2026-11-22T11:00:00Z"})
    assert r.status_code == 400 and "before" in r.json()["detail"]


def test_listed_asset_types_are_the_three_of_the_vocabulary(api: httpx.Client) -> None:
    slugs = [t["slug"] for t in api.get("/api/v1/asset-types").json()]
    assert slugs == ["juice-product", "sales-order", "sales-order-status"]


def test_created_order_is_browsable_through_the_aas_part2_api(api: httpx.Client) -> None:
    receipt = api.post(BASE, json=CANONICAL_ORDER).json()
    shell = api.get(receipt["links"]["aas"])
    assert shell.status_code == 200, shell.text
    sm_ref = shell.json()["submodels"][0]["keys"][0]["value"]
    sm_id = base64.urlsafe_b64encode(sm_ref.encode()).decode().rstrip("=")
    value = api.get(f"/api/v3.0/submodels/{sm_id}/$value")
    assert value.status_code == 200, value.text
    assert value.json()["orderId"] == "SO-1001" and value.json()["items"][0]["quantity"] == 2


def test_aas_tools_can_page_through_every_shell_and_submodel(api: httpx.Client) -> None:
    for n in range(5):
        assert api.post(BASE, json=order(f"SO-{n}")).status_code == 201
    shells, cursor = [], None
    while True:
        page = api.get("/api/v3.0/shells", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        shells += page["result"]
        cursor = page["paging_metadata"].get("cursor")
        if not cursor:
            break
    kinds = [s["assetInformation"]["assetKind"] for s in shells]
    assert kinds.count("Type") == 3 and kinds.count("Instance") == 5
    submodels = api.get("/api/v3.0/submodels", params={"limit": 100}).json()["result"]
    env = {"assetAdministrationShells": shells, "submodels": submodels}
    validate_environment(env)
    read_aas_json_file(io.StringIO(json.dumps(env)), failsafe=False)
    semantic = base64.urlsafe_b64encode(b"https://pec.example/ids/sm/SalesOrder/1/0").decode().rstrip("=")
    orders = api.get("/api/v3.0/submodels", params={"semanticId": semantic}).json()["result"]
    assert {sm.get("kind", "Instance") for sm in orders} == {"Template", "Instance"}
    assert len(orders) == 6

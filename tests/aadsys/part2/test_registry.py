"""AAS Registry SSP-002, Submodel Registry SSP-002 and Discovery SSP-001 (read) over the store: descriptors of own
and received records whose endpoints lead to this AAdSys's own Part 2 API, lookups by asset id, /description,
501 for writes, and CORS for a browser UI on another origin. Both databases, one server each."""

from __future__ import annotations

import base64
import json

import httpx
import orjson
import pytest

from tests.aadsys.part2.conftest import ALLOWED_ORIGIN, Directory

V3 = "/api/v3.0"
PREFIX = "https://admin-shell.io/aas/API/3/0/"


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def asset_id(name: str, value: str) -> str:
    return b64(json.dumps({"name": name, "value": value}))


def _all(api: httpx.Client, path: str, limit: int, **params: object) -> list:
    """Every page of a list, following paging_metadata.cursor."""
    out, cursor = [], None
    while True:
        answer = api.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        out += answer.json()["result"]
        cursor = answer.json()["paging_metadata"].get("cursor")
        if not cursor:
            return out


def test_shell_descriptors_describe_own_and_received_shells_with_endpoints_that_lead_to_them(
        directory: Directory) -> None:
    with directory.client() as api:
        descriptors = _all(api, f"{V3}/shell-descriptors", 100)
        shells = _all(api, f"{V3}/shells", 100)
        assert [d["id"] for d in descriptors] == [s["id"] for s in shells]  # the same store, the same order
        by_id = {d["id"]: d for d in descriptors}
        order = by_id[directory.own_order.shell_id]
        assert order["specificAssetIds"] == [{"name": "orderId", "value": "SO-1001"}]
        assert (order["assetKind"], order["globalAssetId"], order["idShort"]) == (
            "Instance", "urn:pec:sales-order:SO-1001", "SalesOrder_SO_1001")
        assert order["assetType"] == "https://pec.example/ids/aas/type/sales-order"
        status = by_id[directory.received_status]
        assert status["specificAssetIds"] == [{"name": "orderId", "value": "SO-1001"}]
        assert status["globalAssetId"] == "urn:omis:sales-order-status:SO-1001"
        assert status["assetType"] == "https://omis.example/ids/aas/type/sales-order-status"
        assert by_id[directory.product.shell_id]["specificAssetIds"] == [
            {"name": "productId", "value": "JP-ORANGE-CARROT"}]
        assert {d["assetKind"] for d in descriptors} == {"Type", "Instance"}
        for descriptor in descriptors:  # each endpoint is a full URL of this AAdSys, and reads the shell
            (endpoint,) = descriptor["endpoints"]
            assert endpoint["interface"] == "AAS-3.0"
            href = endpoint["protocolInformation"]["href"]
            assert href == f"{directory.url}{V3}/shells/{b64(descriptor['id'])}"
            shell = api.get(href).json()
            assert shell["id"] == descriptor["id"]
            refs = [ref["keys"][0]["value"] for ref in shell.get("submodels", [])]
            assert sorted(sm["id"] for sm in descriptor.get("submodelDescriptors", [])) == sorted(refs)
            for sm in descriptor.get("submodelDescriptors", []):
                assert sm["endpoints"][0]["interface"] == "SUBMODEL-3.0"
                submodel = api.get(sm["endpoints"][0]["protocolInformation"]["href"]).json()
                assert (submodel["id"], submodel["idShort"], submodel["semanticId"]) == (
                    sm["id"], sm["idShort"], sm["semanticId"])


def test_descriptor_pages_follow_the_cursor_without_repeats(directory: Directory) -> None:
    with directory.client() as api:
        whole = _all(api, f"{V3}/shell-descriptors", 1000)
        assert _all(api, f"{V3}/shell-descriptors", 2) == whole
        submodels = _all(api, f"{V3}/submodel-descriptors", 1000)
        assert _all(api, f"{V3}/submodel-descriptors", 3) == submodels
        assert len({d["id"] for d in submodels}) == len(submodels) == len(_all(api, f"{V3}/submodels", 1000))
        assert len(whole) == 3 + 3  # the three type shells, then the three records


def test_filters_by_asset_kind_and_asset_type(directory: Directory) -> None:
    with directory.client() as api:
        kinds = {kind: _all(api, f"{V3}/shell-descriptors", 100, assetKind=kind)
                 for kind in ("Type", "Instance", "NotApplicable")}
        assert [len(kinds[k]) for k in ("Type", "Instance", "NotApplicable")] == [3, 3, 0]
        received_type = _all(api, f"{V3}/shell-descriptors", 100,
                             assetType=b64("https://omis.example/ids/aas/type/sales-order-status"))
        assert [d["id"] for d in received_type] == [directory.received_status]
        assert _all(api, f"{V3}/shell-descriptors", 100, assetType=b64("https://pec.example/ids/aas/type/x")) == []
        assert api.get(f"{V3}/shell-descriptors", params={"assetKind": "Mixed"}).status_code == 400


def test_one_descriptor_and_its_submodel_descriptors_through_the_superpath(directory: Directory) -> None:
    shell = directory.own_order.shell_id
    with directory.client() as api:
        descriptor = api.get(f"{V3}/shell-descriptors/{b64(shell)}").json()
        assert descriptor in _all(api, f"{V3}/shell-descriptors", 100)
        (submodel,) = descriptor["submodelDescriptors"]
        assert _all(api, f"{V3}/shell-descriptors/{b64(shell)}/submodel-descriptors", 1) == [submodel]
        one = api.get(f"{V3}/shell-descriptors/{b64(shell)}/submodel-descriptors/{b64(submodel['id'])}")
        assert one.json() == submodel == api.get(f"{V3}/submodel-descriptors/{b64(submodel['id'])}").json()
        assert submodel["semanticId"]["keys"][0]["value"] == "https://pec.example/ids/sm/SalesOrder/1/0"
        for path, status in ((f"/shell-descriptors/{b64('urn:nothing')}", 404),
                             (f"/shell-descriptors/{b64(shell)}/submodel-descriptors/{b64('urn:nothing')}", 404),
                             (f"/submodel-descriptors/{b64('urn:nothing')}", 404),
                             ("/shell-descriptors/a", 400), ("/submodel-descriptors/a", 400)):
            answer = api.get(V3 + path)
            assert answer.status_code == status, (path, answer.text)
            assert answer.json()["messages"][0]["code"] == str(status)


def test_lookup_by_order_number_finds_own_and_received_shells(directory: Directory) -> None:
    with directory.client() as api:
        def lookup(*asset_ids: str) -> list[str]:
            answer = api.get(f"{V3}/lookup/shells", params={"assetIds": list(asset_ids)})
            assert answer.status_code == 200, answer.text
            return list(answer.json()["result"])

        assert sorted(lookup(asset_id("orderId", "SO-1001"))) == sorted(
            [directory.own_order.shell_id, directory.received_status])
        assert lookup(asset_id("orderId", "SO-1001"), asset_id("globalAssetId", "urn:omis:sales-order-status:SO-1001")
                      ) == [directory.received_status]  # repeated assetIds: all of them
        assert lookup(asset_id("productId", "JP-ORANGE-CARROT")) == [directory.product.shell_id]
        assert lookup(asset_id("globalAssetId", "urn:pec:sales-order")) == ["https://pec.example/ids/aas/type/sales-order"]
        assert lookup(asset_id("orderId", "SO-9999")) == []
        assert lookup(asset_id("serialNumber", "SO-1001")) == []
        assert lookup(asset_id("orderId", "SO-1001"), asset_id("productId", "SO-1001")) == []
        assert len(lookup()) == 6  # no assetIds: every shell
        links = api.get(f"{V3}/lookup/shells/{b64(directory.received_status)}").json()
        assert links == [{"name": "globalAssetId", "value": "urn:omis:sales-order-status:SO-1001"},
                         {"name": "orderId", "value": "SO-1001"}]
        assert api.get(f"{V3}/lookup/shells/{b64('urn:nothing')}").status_code == 404
        bad = api.get(f"{V3}/lookup/shells", params={"assetIds": b64('{"name": "orderId"}')})
        assert bad.status_code == 400 and "SpecificAssetId" in bad.json()["messages"][0]["text"]


def test_description_lists_exactly_the_profiles_served(directory: Directory) -> None:
    with directory.client() as api:
        profiles = api.get(f"{V3}/description").json()["profiles"]
    assert profiles == [f"{PREFIX}{name}" for name in (
        "AssetAdministrationShellRepositoryServiceSpecification/SSP-002",
        "SubmodelRepositoryServiceSpecification/SSP-002",
        "AssetAdministrationShellRegistryServiceSpecification/SSP-002",
        "SubmodelRegistryServiceSpecification/SSP-002",
        "DiscoveryServiceSpecification/SSP-001")]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/shell-descriptors", {"id": "urn:x"}),
    ("PUT", f"/shell-descriptors/{b64('urn:x')}", {"id": "urn:x"}),
    ("DELETE", f"/shell-descriptors/{b64('urn:x')}/submodel-descriptors/{b64('urn:y')}", None),
    ("DELETE", f"/submodel-descriptors/{b64('urn:y')}", None),
    ("POST", f"/lookup/shells/{b64('urn:x')}", [{"name": "orderId", "value": "SO-1"}]),
])
def test_writes_beyond_the_read_profiles_answer_501_saying_why(directory: Directory, method: str, path: str,
                                                               body: object) -> None:
    with directory.client("write") as api:
        answer = api.request(method, V3 + path, content=None if body is None else orjson.dumps(body),
                             headers={"Content-Type": "application/json"})
        assert answer.status_code == 501, answer.text
        assert "create or receive a record" in answer.json()["messages"][0]["text"]
        malformed = api.post(f"{V3}/lookup/shells/{b64('urn:x')}", json=[{"name": "orderId"}])
        assert malformed.status_code == 400  # input is checked before the 501


def test_every_registry_read_needs_a_read_key(directory: Directory) -> None:
    with directory.client(None) as anonymous:
        for path in ("/shell-descriptors", "/submodel-descriptors", "/lookup/shells", "/description"):
            assert anonymous.get(V3 + path).status_code == 401, path


def test_cors_lets_the_allowed_origin_read_with_an_api_key_and_no_other(directory: Directory) -> None:
    shell = f"{V3}/shells/{b64(directory.own_order.shell_id)}"  # a stored read: answered before routing
    with directory.client() as api:
        for path in (shell, f"{V3}/shell-descriptors"):
            allowed = api.get(path, headers={"Origin": ALLOWED_ORIGIN})
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
            other = api.get(path, headers={"Origin": "http://evil.example"})
            assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    with directory.client(None) as browser:
        preflight = browser.options(f"{V3}/shell-descriptors", headers={
            "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key"})
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
        refused = browser.options(f"{V3}/shell-descriptors", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key"})
        assert "access-control-allow-origin" not in refused.headers

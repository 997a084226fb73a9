"""GET /api/v3.0/serialization (Part 2 GenerateSerializationByIds): AASX packages and JSON environments."""

from __future__ import annotations

import httpx
from basyx.aas import model

from aadsys.gateway.part2.identifiers import encode_id
from tests.aadsys.aasx_support import read_package, store_order_with_label
from tests.aadsys.conftest import Gateway

AASX = "application/asset-administration-shell-package+xml"


def _ids(shells: list[str], submodels: list[str]) -> dict[str, list[str]]:
    return {"aasIds": [encode_id(i) for i in shells], "submodelIds": [encode_id(i) for i in submodels]}


def test_package_holds_the_shells_and_submodels_asked_for_and_the_label_image(api: httpx.Client,
                                                                              gateway: Gateway) -> None:
    stored = store_order_with_label(api)
    with gateway.client("read") as reader:
        r = reader.get("/api/v3.0/serialization", params=_ids(stored.shell_ids, stored.submodel_ids),
                       headers={"Accept": AASX})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == AASX
    package = read_package(r.content)
    assert package.ids(model.AssetAdministrationShell) == set(stored.shell_ids)
    assert package.ids(model.Submodel) == set(stored.submodel_ids)
    [label] = package.file_values()
    assert label.startswith("/aasx/files/") and label.endswith(".png")
    assert package.file_bytes(label) == stored.png
    assert package.files.get_content_type(label) == "image/png"


def test_package_of_submodels_only_leaves_the_shells_out(api: httpx.Client) -> None:
    stored = store_order_with_label(api)
    r = api.get("/api/v3.0/serialization", params=_ids([], stored.submodel_ids[:1]), headers={"Accept": AASX})
    package = read_package(r.content)
    assert package.ids(model.AssetAdministrationShell) == set()
    assert package.ids(model.Submodel) == {stored.submodel_ids[0]}


def test_json_variant_is_the_stored_environment_of_the_selection(api: httpx.Client) -> None:
    stored = store_order_with_label(api)
    r = api.get("/api/v3.0/serialization", params=_ids(stored.shell_ids, stored.submodel_ids),
                headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["assetAdministrationShells"] == [s for env in stored.environments
                                                 for s in env["assetAdministrationShells"]]
    assert body["submodels"] == [sm for env in stored.environments for sm in env["submodels"]]


def test_an_identifier_that_is_not_base64url_is_400_as_a_result_body(api: httpx.Client) -> None:
    r = api.get("/api/v3.0/serialization", params={"aasIds": ["a+b/c"]}, headers={"Accept": AASX})
    assert r.status_code == 400
    [message] = r.json()["messages"]
    assert message["code"] == "400" and message["messageType"] == "Error" and "base64url" in message["text"]


def test_an_unknown_identifier_is_404_and_names_it(api: httpx.Client) -> None:
    stored = store_order_with_label(api)
    r = api.get("/api/v3.0/serialization", params=_ids(stored.shell_ids, ["https://pec.example/ids/sm/nothing"]),
                headers={"Accept": AASX})
    assert r.status_code == 404
    assert "https://pec.example/ids/sm/nothing" in r.json()["messages"][0]["text"]


def test_serialization_needs_a_key_with_the_read_scope(gateway: Gateway) -> None:
    with gateway.client(None) as anonymous:
        r = anonymous.get("/api/v3.0/serialization", headers={"Accept": AASX})
    assert r.status_code == 401 and r.json()["messages"][0]["code"] == "401"


def test_an_accept_it_cannot_serialize_to_is_406(api: httpx.Client) -> None:
    r = api.get("/api/v3.0/serialization", headers={"Accept": "text/html"})
    assert r.status_code == 406
    assert AASX in r.json()["messages"][0]["text"]

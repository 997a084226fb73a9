"""Files are content-addressed, size-limited and digest-checked; failures leave nothing behind."""

from __future__ import annotations

import hashlib
import os

import httpx
import orjson

from aas_models import base64url
from tests.aadsys.conftest import CANONICAL_ORDER, Gateway, order


def _files_on_disk(gateway: Gateway) -> list:
    return [p for p in gateway.ctx.settings.files_dir.rglob("*") if p.is_file()]


def test_uploaded_file_downloads_byte_for_byte_with_its_media_type(api: httpx.Client) -> None:
    content = os.urandom(200_000)
    r = api.post("/api/v1/files", content=content, headers={"Content-Type": "image/png"})
    assert r.status_code == 201
    sha = hashlib.sha256(content).hexdigest()
    assert r.json()["sha256"] == sha and r.json()["size"] == len(content)
    got = api.get(f"/api/v1/files/{sha}")
    assert got.content == content and got.headers["content-type"] == "image/png"
    assert api.post("/api/v1/files", content=content, headers={"Content-Type": "image/png"}).status_code == 200


def test_upload_with_a_wrong_declared_digest_is_refused_and_not_kept(api: httpx.Client, gateway: Gateway) -> None:
    r = api.post("/api/v1/files", content=b"label", headers={"X-Content-SHA256": "0" * 64})
    assert r.status_code == 422 and "sha256" in r.json()["detail"]
    assert _files_on_disk(gateway) == []


def test_upload_over_the_limit_is_413_and_not_kept(gateway: Gateway) -> None:
    gateway.ctx.settings.max_file_bytes = 1000
    with gateway.client() as api:
        def chunks():  # no Content-Length: the limit must hold while streaming
            for _ in range(5):
                yield b"x" * 400
        r = api.post("/api/v1/files", content=chunks())
    assert r.status_code == 413
    assert _files_on_disk(gateway) == []


def test_malformed_digest_header_is_400(api: httpx.Client) -> None:
    assert api.post("/api/v1/files", content=b"x", headers={"X-Content-SHA256": "abc"}).status_code == 400


def test_unknown_file_is_404_and_bad_digest_path_is_422(api: httpx.Client) -> None:
    assert api.get("/api/v1/files/" + "a" * 64).status_code == 404
    assert api.get("/api/v1/files/not-a-digest").status_code == 422


def test_order_with_a_label_image_needs_the_file_uploaded_first(api: httpx.Client) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(256)
    digest = hashlib.sha256(png).hexdigest()
    item = {**CANONICAL_ORDER["items"][0], "labelImage": {"sha256": digest, "contentType": "image/png"}}
    url = "/api/v1/asset-types/sales-order/instances"
    refused = api.post(url, json=order("SO-IMG", items=[item]))
    assert refused.status_code == 422
    assert digest in refused.json()["detail"] and "POST /api/v1/files" in refused.json()["detail"]
    assert api.get(f"{url}/SO-IMG").status_code == 404

    assert api.post("/api/v1/files", content=png, headers={"Content-Type": "image/png"}).status_code == 201
    assert api.post(url, json=order("SO-IMG", items=[item])).status_code == 201
    shell = api.get(f"{url}/SO-IMG", params={"format": "aas"}).json()
    label = shell["submodels"][0]["submodelElements"][5]["value"][0]["value"][-1]
    assert label == {"idShort": "labelImage", "modelType": "File", "contentType": "image/png",
                     "value": f"/api/v1/files/{digest}"}
    assert api.get(label["value"]).content == png


def test_records_name_files_by_digest_and_every_aas_answer_links_to_the_file(gateway: Gateway) -> None:
    """Stored: ``nih:sha-256;<hex>`` (the same at every AAdSys). Served, by every route that sends AAS JSON, and
    by the stored-reads lane: ``/api/v1/files/<hex>``. An AAS environment posted with the links stores the same
    bytes as the business JSON did."""
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    digest = hashlib.sha256(png).hexdigest()
    link, reference = f"/api/v1/files/{digest}".encode(), f"nih:sha-256;{digest}".encode()
    item = {**CANONICAL_ORDER["items"][0], "labelImage": {"sha256": digest, "contentType": "image/png"}}
    url = "/api/v1/asset-types/sales-order/instances"
    with gateway.client("write") as api:
        api.post("/api/v1/files", content=png, headers={"Content-Type": "image/png"}).raise_for_status()
        made = api.post(url, json=order("SO-LINK", items=[item])).raise_for_status().json()
        served = api.get(f"{url}/SO-LINK", params={"format": "aas"})
        assert link in served.content and reference not in served.content
        again = api.post(url, content=served.content, headers={"Content-Type": "application/aas+json"})
        assert again.status_code == 200 and again.json()["sha256"] == made["sha256"]

    instance = gateway.ctx.instances.get("sales-order", "SO-LINK")
    assert reference in instance.aas_json and link not in instance.aas_json
    assert hashlib.sha256(instance.aas_json).hexdigest() == made["sha256"]

    environment = orjson.loads(served.content)
    shell_id, submodel_id = environment["assetAdministrationShells"][0]["id"], environment["submodels"][0]["id"]
    submodel = f"/api/v3.0/submodels/{base64url.encode_text(submodel_id)}"
    label_path = "items[0].labelImage"
    with gateway.client("read") as reader:
        answers = {
            "submodel (stored reads)": reader.get(submodel),
            "submodel (route)": reader.get(submodel, params={"level": "deep"}),
            "$value": reader.get(f"{submodel}/$value"),
            "element": reader.get(f"{submodel}/submodel-elements/{label_path}"),
            "page of submodels": reader.get("/api/v3.0/submodels", params={"idShort": "SalesOrder"}),
            "serialization": reader.get("/api/v3.0/serialization", params={
                "aasIds": base64url.encode_text(shell_id), "submodelIds": base64url.encode_text(submodel_id)}),
        }
        for what, answer in answers.items():
            assert answer.status_code == 200, what
            assert link in answer.content and reference not in answer.content, what
        attachment = reader.get(f"{submodel}/submodel-elements/{label_path}/attachment")
        assert attachment.status_code == 200 and attachment.content == png

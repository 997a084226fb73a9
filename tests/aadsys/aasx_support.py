"""A Sales Order with a label image and its Status, stored through the API; reading an AASX package back."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Any

import httpx
from aas_test_engines.file import check_aasx_file
from basyx.aas import model
from basyx.aas.adapter.aasx import AASXReader, DictSupplementaryFileContainer

from tests.aadsys.conftest import order

ORDERS = "/api/v1/asset-types/sales-order/instances"
STATUSES = "/api/v1/asset-types/sales-order-status/instances"


@dataclass
class StoredOrder:
    png: bytes
    environments: list[dict[str, Any]]  # the order's and the status's AAS JSON, as the API serves them

    @property
    def shell_ids(self) -> list[str]:
        return [s["id"] for env in self.environments for s in env["assetAdministrationShells"]]

    @property
    def submodel_ids(self) -> list[str]:
        return [sm["id"] for env in self.environments for sm in env["submodels"]]


def store_order_with_label(api: httpx.Client, order_id: str = "SO-IMG") -> StoredOrder:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(512)
    assert api.post("/api/v1/files", content=png, headers={"Content-Type": "image/png"}).status_code == 201
    label = {"sha256": hashlib.sha256(png).hexdigest(), "contentType": "image/png"}
    item = {**order(order_id)["items"][0], "labelImage": label}
    assert api.post(ORDERS, json=order(order_id, items=[item])).status_code == 201
    status = {"orderId": order_id, "status": "received", "trace": [], "updatedAt": "2026-11-22T10:16:00Z"}
    assert api.post(STATUSES, json=status).status_code == 201
    environments = [api.get(f"{url}/{order_id}", params={"format": "aas"}).json() for url in (ORDERS, STATUSES)]
    return StoredOrder(png, environments)


@dataclass
class Package:
    objects: model.DictIdentifiableStore
    files: DictSupplementaryFileContainer

    def ids(self, kind: type[model.Identifiable]) -> set[str]:
        return {o.id for o in self.objects if isinstance(o, kind)}

    def file_values(self) -> list[str]:
        values = []
        for sm in self.objects:
            if isinstance(sm, model.Submodel):
                values += [e.value for e in _walk(sm) if isinstance(e, model.File) and e.value]
        return values

    def file_bytes(self, name: str) -> bytes:
        out = io.BytesIO()
        self.files.write_file(name, out)
        return out.getvalue()


def read_package(data: bytes) -> Package:
    """Read back with basyx, after the IDTA test engines' AASX file check has passed on it."""
    result = check_aasx_file(io.BytesIO(data))  # type: ignore[arg-type]
    assert result.ok(), result.to_dict()
    objects: model.DictIdentifiableStore = model.DictIdentifiableStore()
    files = DictSupplementaryFileContainer()
    with AASXReader(io.BytesIO(data), failsafe=False) as reader:
        reader.read_into(objects, files)
    return Package(objects, files)


def _walk(element: Any) -> list[Any]:
    found = []
    for child in getattr(element, "submodel_element", None) or (
            element.value if isinstance(element, (model.SubmodelElementCollection, model.SubmodelElementList))
            else []):
        found += [child, *_walk(child)]
    return found

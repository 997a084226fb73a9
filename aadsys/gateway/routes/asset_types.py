"""GET /api/v1/asset-types: what this AAdSys holds."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter

from aadsys.gateway.deps import Instances, Reader

router = APIRouter(tags=["asset types"])


@router.get("/asset-types", summary="The asset types this AAdSys holds")
def list_asset_types(instances: Instances, _: Reader) -> list[dict[str, Any]]:
    return [
        {"slug": row.slug, "name": row.name, "description": row.description, "keyField": row.key_field,
         "versioned": row.versioned, "typeShellId": row.type_shell_id,
         "submodelTemplates": [sm["id"] for sm in orjson.loads(row.type_environment).get("submodels", [])]}
        for row in instances.registered_types()
    ]

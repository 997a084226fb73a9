"""GET /api/v1/asset-types: what this AAdSys holds, and the JSON Schema of each type's records."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from aadsys.gateway.deps import Instances, Reader
from aadsys.gateway.problems import problem_responses
from aadsys.gateway.routes.instances import AssetTypeSlug
from aadsys.gateway.typed_openapi import record_schema

router = APIRouter(tags=["asset types"], responses=problem_responses(401, 403))
SCHEMA_JSON = "application/schema+json"


@router.get("/asset-types", summary="The asset types this AAdSys holds")
def list_asset_types(instances: Instances, _: Reader) -> list[dict[str, Any]]:
    return [
        {"slug": row.slug, "name": row.name, "description": row.description, "keyField": row.key_field,
         "versioned": row.versioned, "typeShellId": row.type_shell_id,
         "submodelTemplates": [sm["id"] for sm in orjson.loads(row.type_environment).get("submodels", [])]}
        for row in instances.registered_types()
    ]


@router.get("/asset-types/{type}/schema", summary="The JSON Schema of this type's records",
            responses={200: {"content": {SCHEMA_JSON: {"schema": {"type": "object"}}}},
                       **problem_responses(404, 422, s404="No such asset type here")})
async def get_record_schema(slug: AssetTypeSlug, instances: Instances, _: Reader) -> Response:
    """What a record of this type must meet (JSON Schema 2020-12, derived from the record model): the body of
    `POST /api/v1/asset-types/{type}/instances`. Rules that span fields are checked on create and are not in it."""
    spec = instances.get_spec(slug)
    return Response(orjson.dumps(record_schema(spec.slug)), media_type=SCHEMA_JSON)

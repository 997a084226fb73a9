"""The business API's instance operations, documented per asset type with the JSON Schemas of their records.

One set of routes serves every type (``/api/v1/asset-types/{type}/instances``); a client generator, though, learns
nothing from a body that may be any record. So the document lists each type's own paths instead, with its record's
schema (derived from the pydantic record) for what is sent and what comes back. Both describe the same routes:
the generic path answers the concrete ones, and an unknown type gets a 404 problem that names the known ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from aadsys.gateway.problems import PROBLEM_SCHEMA
from aas_models import ASSET_TYPES, AssetTypeSpec
from aas_models.serialization import Json

GENERIC_LIST = "/api/v1/asset-types/{type}/instances"
GENERIC_ONE = "/api/v1/asset-types/{type}/instances/{key}"
REF = "#/components/schemas/{model}"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_HEAD: Json = {
    "assetType": {"type": "string", "description": "the asset type's slug"},
    "key": {"type": "string", "description": "the business key, e.g. an orderId"},
    "revision": {"type": "integer", "minimum": 1},
    "seq": {"type": "integer", "minimum": 1, "description": "store order; the id of the event that announced it"},
    "createdAt": {"type": "string", "format": "date-time"},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "digest of the canonical AAS JSON"},
    "provider": {"type": ["string", "null"], "description": "the partner it came from; null for own records"},
}
RECEIPT: Json = {
    "type": "object", "required": [*_HEAD, "links"],
    "properties": {**_HEAD, "links": {"type": "object", "required": ["self", "aas"], "properties": {
        "self": {"type": "string", "description": "the instance in the business API"},
        "aas": {"type": "string", "description": "its shell in the AAS Part 2 API"}}}},
}


BULK_RESULT: Json = {
    "type": "object", "required": ["took", "errors", "items"],
    "description": "The answer to a bulk body: what a single POST of each record would have answered, in request "
                   "order",
    "properties": {
        "took": {"type": "integer", "minimum": 0, "description": "milliseconds the server spent on the request"},
        "errors": {"type": "boolean", "description": "true when some record was not stored (a conflict or a "
                                                     "refusal)"},
        "items": {"type": "array", "items": {"oneOf": [{"$ref": REF.format(model="BulkItemStored")},
                                                       {"$ref": REF.format(model="BulkItemRefused")}]}}},
}
_ITEM: Json = {
    "index": {"type": "integer", "minimum": 0, "description": "the record's place in the request, from 0"},
    "line": {"type": "integer", "minimum": 1, "description": "NDJSON: the line of the body the record was on"},
}
BULK_ITEM_STORED: Json = {
    "type": "object", "required": ["index", "status", "result", *RECEIPT["required"]],
    "properties": {**_ITEM, "status": {"type": "integer", "enum": [200, 201]},
                   "result": {"type": "string", "enum": ["created", "repeat"],
                              "description": "created: stored now (201); repeat: the same content is stored "
                                             "already (200)"},
                   **RECEIPT["properties"]},
}
BULK_ITEM_REFUSED: Json = {
    "type": "object", "required": ["index", "status", "result", "problem"],
    "properties": {**_ITEM, "key": {"type": "string", "description": "the record's key, when it names one"},
                   "status": {"type": "integer", "enum": [400, 409, 413, 422]},
                   "result": {"type": "string", "enum": ["conflict", "refused"],
                              "description": "conflict: the key is stored with other content (409); refused: the "
                                             "record is malformed, too large or breaks a rule of its model"},
                   "problem": {"$ref": REF.format(model="ItemProblem")}},
}
ITEM_PROBLEM: Json = {
    **PROBLEM_SCHEMA, "description": "RFC 9457 problem details of one record of a bulk body",
    "properties": {**PROBLEM_SCHEMA["properties"], "errors": {"type": "array", "items": {
        "type": "object", "required": ["message"], "properties": {
            "field": {"type": "string", "description": "the field as the model names it, e.g. items[0].quantity"},
            "pointer": {"type": "string", "description": "RFC 6901 JSON Pointer into the request body, e.g. "
                                                         "/3/items/0/quantity (NDJSON: record n as element n-1)"},
            "message": {"type": "string"}}}}},
}


@cache
def _record_schemas() -> tuple[dict[tuple[str, str], Json], dict[str, Json]]:
    """Each type's record, as sent (validation) and as stored and read back (serialization): refs and definitions."""
    refs, top = models_json_schema(
        [(spec.record_model, mode) for spec in ASSET_TYPES.values() for mode in ("validation", "serialization")],
        by_alias=True, ref_template=REF)
    by_slug = {(spec.slug, mode): refs[(spec.record_model, mode)]
               for spec in ASSET_TYPES.values() for mode in ("validation", "serialization")}
    return by_slug, top.get("$defs", {})


@cache
def record_schema(slug: str) -> Json:
    """The JSON Schema a record of this type must meet, self-contained (``GET /api/v1/asset-types/{type}/schema``).

    Rules that span fields (ratios that add up, the order total) are checked on create and are not in it."""
    spec = ASSET_TYPES[slug]
    return {"$schema": JSON_SCHEMA_DIALECT, **spec.record_model.model_json_schema(by_alias=True, mode="validation")}


def install_typed_openapi(app: FastAPI, *, bulk_max_items: int) -> None:
    """Make ``app.openapi()`` document each asset type's instance operations in place of the generic ones.

    ``bulk_max_items``: the most records a bulk body may hold (``maxItems``)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()  # FastAPI keeps it as app.openapi_schema: changed in place, once
        document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        per_type(document, bulk_max_items)
        drop_unused_validation_errors(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign] # FastAPI's documented way to extend its document


def per_type(document: Json, bulk_max_items: int) -> None:
    paths: Json = document["paths"]
    generic_list, generic_one = paths.pop(GENERIC_LIST, None), paths.pop(GENERIC_ONE, None)
    if generic_list is None or generic_one is None:
        return
    refs, definitions = _record_schemas()
    schemas: Json = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(definitions)
    schemas["InstanceReceipt"] = RECEIPT
    schemas.update(BulkResult=BULK_RESULT, BulkItemStored=BULK_ITEM_STORED, BulkItemRefused=BULK_ITEM_REFUSED,
                   ItemProblem=ITEM_PROBLEM)
    for spec in ASSET_TYPES.values():
        name = spec.record_model.__name__
        written, read = refs[(spec.slug, "validation")], refs[(spec.slug, "serialization")]
        schemas[f"{name}Listed"] = {"type": "object", "required": [*_HEAD, "data"],
                                    "properties": {**_HEAD, "data": read}}
        schemas[f"{name}Page"] = _page(f"{name}Listed")
        paths[GENERIC_LIST.replace("{type}", spec.slug)] = {
            "post": _create(generic_list["post"], spec, written, bulk_max_items),
            "get": _operation(generic_list["get"], f"list{name}s", f"List {spec.name} instances by createdAt range",
                              {"application/json": {"schema": {"$ref": REF.format(model=f"{name}Page")}}}),
        }
        paths[GENERIC_ONE.replace("{type}", spec.slug)] = {
            "get": _operation(generic_one["get"], f"get{name}", f"Get a {spec.name} by its {spec.key_field}",
                              {"application/json": {"schema": read},
                               "application/aas+json": {"schema": {"$ref": "#/components/schemas/AasEnvironment"}}}),
        }
    schemas["AasEnvironment"] = {"type": "object", "description": "An IDTA AAS v3.0 Environment (JSON) holding the "
                                                                  "instance's shell and submodels"}


def _create(generic: Json, spec: AssetTypeSpec, written: Json, bulk_max_items: int) -> Json:
    name = spec.record_model.__name__
    operation = _operation(generic, f"create{name}", f"Create a {spec.name}, or many (bulk)",
                           {"application/json": {"schema": {"$ref": REF.format(model="InstanceReceipt")}}},
                           ok_statuses=("201",))
    operation["responses"]["200"]["content"] = {"application/json": {"schema": {"oneOf": [
        {"$ref": REF.format(model="InstanceReceipt")}, {"$ref": REF.format(model="BulkResult")}]}}}
    # A bulk body is taken whatever its records are: each is judged on its own and a bad one is refused in its item
    # of the answer, not the request. So an item is "the record, or anything" (refused then), not the record alone.
    records = {"type": "array", "minItems": 1, "maxItems": bulk_max_items, "items": {"anyOf": [
        written, {"description": "anything else: refused in its item of the answer (400, 413 or 422)"}]}}
    operation["requestBody"] = {
        "required": True,
        "description": f"One {spec.name} (a JSON object: answered 201 or 200 with its receipt, or a problem), or up "
                       f"to {bulk_max_items} of them in one request (bulk): a JSON array, or application/x-ndjson "
                       "with one JSON object a line. A bulk body is answered 200 with the answer of each record in "
                       "request order (BulkResult); records are stored a chunk per transaction.",
        "content": {"application/json": {"schema": {"oneOf": [written, records]}},
                    "application/x-ndjson": {"schema": records},
                    "application/aas+json": {"schema": {"$ref": "#/components/schemas/AasEnvironment"}}}}
    return operation


def _operation(generic: Json, operation_id: str, summary: str, content: Json,
               ok_statuses: tuple[str, ...] = ("200",)) -> Json:
    operation = copy.deepcopy(generic)
    operation["operationId"], operation["summary"] = operation_id, summary
    operation["parameters"] = [p for p in operation.get("parameters", []) if p["name"] != "type"]
    for status in ok_statuses:
        operation["responses"][status]["content"] = copy.deepcopy(content)
    return operation


def _page(listed: str) -> Json:
    return {"type": "object", "required": ["items", "nextCursor"], "properties": {
        "items": {"type": "array", "items": {"$ref": REF.format(model=listed)}},
        "nextCursor": {"type": ["string", "null"], "description": "pass as cursor for the next page; null at the end"}}}


def drop_unused_validation_errors(document: Json) -> None:
    """FastAPI documents a 422 ``HTTPValidationError`` on every operation with parameters; no route here answers it.

    The business API answers 422 as problem+json (declared on its routers), the AAS Part 2 API a 400 Result.
    """
    for item in document["paths"].values():
        for operation in item.values():
            answer = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in str(answer.get("content", {})):
                del operation["responses"]["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)

"""Business API for instances: create (business or AAS JSON, one or many), get by key, list by createdAt range."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BeforeValidator, WithJsonSchema
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from aadsys.core.instances import iso
from aadsys.gateway import bulk
from aadsys.gateway.bodies import AAS_JSON, BUSINESS_JSON, NDJSON, is_array, media_type_of, parse_json, read_limited
from aadsys.gateway.bulk import BulkLimits
from aadsys.gateway.deps import ContextDep, Instances, Reader, Writer
from aadsys.gateway.file_links import linked, unlinked
from aadsys.gateway.problems import ProblemError, problem_responses
from aadsys.gateway.receipts import receipt
from aas_models import KEY_PATTERN

# Documented per asset type (aadsys/gateway/typed_openapi.py), with each record's schema.
router = APIRouter(tags=["instances"], responses=problem_responses(401, 403, 404, 422))

AssetTypeSlug = Annotated[str, Path(alias="type", description="asset type slug, e.g. sales-order",
                                    pattern=r"^[a-z][a-z0-9-]{0,63}$")]
InstanceKey = Annotated[str, Path(description="the business key, e.g. an orderId", pattern=KEY_PATTERN)]
ProviderFilter = Annotated[str | None, Query(
    description="records received from this provider (its org slug, e.g. pec) over a connector channel; "
                "default: this AAdSys's own records", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


# What from/to take: ISO 8601 date and time, offset optional (read as UTC); pydantic alone would take "0.5" too,
# as seconds since 1970.
ISO_8601 = (r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]"
            r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")
_ISO_8601 = re.compile(ISO_8601)


def _iso_8601(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_8601.fullmatch(value):
        raise ValueError("use ISO 8601 date and time, e.g. 2026-11-22T10:15:00Z")
    return value


Moment = Annotated[datetime, BeforeValidator(_iso_8601), WithJsonSchema(
    {"type": "string", "pattern": ISO_8601, "description": "ISO 8601, e.g. 2026-11-22T10:15:00Z; without an "
                                                            "offset read as UTC"})]


@router.post("/asset-types/{type}/instances", status_code=201, summary="Create an instance, or many (bulk)",
             responses={200: {"description": "idempotent repeat: the same content is stored already; for a bulk "
                                             "body, the answer of each record in request order"},
                        **problem_responses(400, 409, 413, 415,
                                            s400="Malformed JSON, not a JSON object or array, or a bulk body with "
                                                 "no record",
                                            s409="The key exists with other content (unversioned types)",
                                            s413="The body is larger than this server accepts, or a bulk body "
                                                 "holds more records than it accepts; nothing was stored"),
                        **problem_responses(422, s422="The record breaks a rule of its model; rules that span "
                                                      "fields (ratios that add up, the order total) are checked "
                                                      "here and are not in the schema")},
             openapi_extra={"requestBody": {"required": True, "content": {
                 BUSINESS_JSON: {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "minItems": 1}]}},
                 AAS_JSON: {"schema": {"type": "object"}},
                 NDJSON: {"schema": {"type": "array", "minItems": 1}}}}})
async def create_instance(slug: AssetTypeSlug, request: Request, ctx: ContextDep, instances: Instances,
                          _: Writer) -> Response:
    """Business JSON (`application/json`) or an AAS environment (`application/aas+json`); many records as a JSON
    array or `application/x-ndjson` (bulk).

    201 when stored, 200 when the same content was stored already (idempotent by key). Versioned
    types (sales-order-status) store other content under the same key as the next revision.
    A bulk body is answered 200 with the answer of each record, in request order.
    """
    media = media_type_of(request)
    if media not in (BUSINESS_JSON, AAS_JSON, NDJSON):
        raise ProblemError(415, "unsupported-media-type", "Unsupported Content-Type",
                           f"Content-Type '{media or 'none'}' is not accepted; send {BUSINESS_JSON} for business "
                           f"JSON (an object, or an array of them), {NDJSON} for business JSON one record a line, "
                           f"or {AAS_JSON} for an AAS environment")
    settings = ctx.settings
    if media == NDJSON:
        body = await read_limited(request, settings.bulk_max_bytes, bulk=True)
    else:
        body = await read_limited(request, settings.max_body_bytes,
                                  array_limit=settings.bulk_max_bytes if media == BUSINESS_JSON else None)
    if media == NDJSON or (media == BUSINESS_JSON and is_array(body)):
        answers = await run_in_threadpool(bulk.ingest, instances, slug, body, ndjson=media == NDJSON,
                                          limits=BulkLimits.of(settings), receipt=receipt)
        return Response(orjson.dumps(answers), media_type=BUSINESS_JSON)
    payload = parse_json(body)
    if media == AAS_JSON:
        payload = unlinked(payload)
    instance, created = await run_in_threadpool(instances.create, slug, payload, aas=media == AAS_JSON)
    status = 201 if created else 200
    answer = receipt(instance)
    headers = {"Location": answer["links"]["self"], "ETag": f'"{instance.sha256}"'}
    return Response(orjson.dumps(answer), status_code=status, media_type=BUSINESS_JSON, headers=headers)


@router.get("/asset-types/{type}/instances/{key}", summary="Get an instance by its business key",
            responses={200: {"content": {BUSINESS_JSON: {}, AAS_JSON: {}}}})
async def get_instance(slug: AssetTypeSlug, key: InstanceKey, instances: Instances, _: Reader,
                 revision: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                                       description="a past revision; default latest")] = None,
                 provider: ProviderFilter = None,
                 format: Annotated[str | None, Query(pattern="^(business|aas)$")] = None,
                 accept: Annotated[str | None, Header()] = None) -> Response:
    """Business JSON by default; AAS JSON with `Accept: application/aas+json` or `?format=aas`.

    With `provider`, the record received from that provider (kept under its identifiers)."""
    instance = await instances.db.read(instances.get, slug, key, revision, origin=provider or "")
    headers = {"ETag": f'"{instance.sha256}"', "X-Revision": str(instance.revision),
               "X-Created-At": iso(instance.created_at)}
    if instance.origin:
        headers["X-Provider"] = instance.origin
    if format == "aas" or (format is None and accept and AAS_JSON in accept):
        return Response(linked(instance.aas_json), media_type=AAS_JSON, headers=headers)
    return Response(instance.business_raw, media_type=BUSINESS_JSON, headers=headers)


@router.get("/asset-types/{type}/instances", summary="List instances by createdAt range",
            responses=problem_responses(400, s400="A cursor this server did not issue, or from after to"))
async def list_instances(slug: AssetTypeSlug, instances: Instances, _: Reader,
                   from_: Annotated[Moment | None, Query(alias="from", description="inclusive")] = None,
                   to: Annotated[Moment | None, Query(description="inclusive")] = None,
                   cursor: Annotated[str | None, Query(max_length=200)] = None,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   latest: Annotated[bool, Query(description="only the latest revision of each key")] = False,
                   provider: ProviderFilter = None) -> Response:
    """Oldest first; follow `nextCursor` until it is null. A time without offset is read as UTC.

    Own records by default; with `provider`, those received from that provider."""
    page = await instances.db.read(instances.page, slug, created_from=from_, created_to=to, cursor=cursor,
                                   limit=limit, latest_only=latest, origin=provider or "")
    return Response(page.json(), media_type=BUSINESS_JSON)

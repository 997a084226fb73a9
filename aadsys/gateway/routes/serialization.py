"""IDTA AAS Part 2 API v3.0 Serialization API: ``GET /serialization`` (GenerateSerializationByIds).

The shells and submodels named by ``aasIds`` and ``submodelIds`` (each base64url-encoded, Part 2 §12.2) as a
JSON environment (``Accept: application/json``) or as an AASX package (``Accept:
application/asset-administration-shell-package+xml``) holding the stored files of their File elements.
Errors leave as Part 2 Result bodies; the read scope is required, as for every Part 2 route.
"""

# No "from __future__ import annotations": FastAPI must see the Annotated dependency types.

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Request, Response

from aadsys.aasx import AASX_MEDIA_TYPE, file_values, package_bytes
from aadsys.gateway.deps import AasReader, ContextDep
from aadsys.gateway.file_links import linked
from aadsys.gateway.part2.identifiers import EncodedIds, decode_id
from aadsys.gateway.part2.repository import AasRepository
from aadsys.gateway.part2.responses import ERRORS, not_found, ok_raw
from aadsys.gateway.part2.results import JSON, AasApiError
from aadsys.gateway.problems import AasApiRoute
from aas_models.serialization import Json

router = APIRouter(route_class=AasApiRoute, dependencies=[Depends(AasReader)], responses=ERRORS)
_OFFERED = (JSON, AASX_MEDIA_TYPE)


@router.get("/serialization", operation_id="GenerateSerializationByIds", tags=["Serialization"],
            summary="The given shells and submodels as a JSON environment or an AASX package",
            responses={200: {"content": {JSON: {}, AASX_MEDIA_TYPE: {}}},
                       406: {"description": "an Accept this server does not serialize to"}})
async def generate_serialization(request: Request, ctx: ContextDep,
                                 aasIds: EncodedIds = None, submodelIds: EncodedIds = None,  # noqa: N803 (the spec's names)
                                 includeConceptDescriptions: bool = True) -> Response:  # noqa: N803
    media_type = _negotiate(request.headers.get("accept") or "*/*")
    # as stored, files named by digest: a package holds them; JSON links to them
    environment = await _environment(ctx.aas, aasIds or [], submodelIds or [])
    # includeConceptDescriptions changes nothing: none are kept here; semantic ids point to the owner's IRIs
    if media_type == JSON:
        return ok_raw(linked(orjson.dumps({key: value for key, value in environment.items() if value})))
    files = {}
    for value in file_values(environment):
        found = await ctx.aas.open_file(value)
        if found is not None:
            files[value] = found
    try:
        package = await anyio.to_thread.run_sync(
            lambda: package_bytes(environment, files, creator=ctx.settings.org))
    except ValueError as exc:
        raise AasApiError(500, f"cannot package the selection: {exc}") from None
    return Response(package, media_type=AASX_MEDIA_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="serialization.aasx"'})


def _negotiate(accept: str) -> str:
    """The first offered type the Accept header names, in its order (q-values are not weighed)."""
    for item in accept.split(","):
        wanted = item.split(";")[0].strip().lower()
        if wanted in ("*/*", "application/*", JSON):
            return JSON
        if wanted == AASX_MEDIA_TYPE:
            return AASX_MEDIA_TYPE
    raise AasApiError(406, f"cannot serialize to '{accept}'; send Accept: {' or '.join(_OFFERED)}")


async def _environment(repo: AasRepository, aas_ids: list[str], submodel_ids: list[str]) -> Json:
    """The selection as an environment; every id decoded before any is looked up, so a bad one is 400, not 404."""
    shell_ids = [decode_id(value, "aasIds") for value in aas_ids]
    sm_ids = [decode_id(value, "submodelIds") for value in submodel_ids]
    shells, submodels = [], []
    for shell_id in dict.fromkeys(shell_ids):
        raw = await repo.get_shell(shell_id)
        if raw is None:
            raise not_found("Asset Administration Shell", shell_id)
        shells.append(_parse(raw))
    for submodel_id in dict.fromkeys(sm_ids):
        raw = await repo.get_submodel(submodel_id)
        if raw is None:
            raise not_found("submodel", submodel_id)
        submodels.append(_parse(raw))
    return {"assetAdministrationShells": shells, "submodels": submodels}


def _parse(raw: bytes) -> Json:
    return orjson.loads(raw)  # type: ignore[no-any-return]

"""``aas_api_router``: the read profiles AAS Repository SSP-002 and Submodel Repository SSP-002 of
IDTA AAS Part 2 API v3.0, over any ``AasRepository``.
"""

# No "from __future__ import annotations": FastAPI must see the locally built Annotated dependency types.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Response

from aadsys.gateway.part2.identifiers import (
    AasIdentifier,
    EncodedId,
    SubmodelIdentifier,
    decode_id,
    decode_json_id,
)
from aadsys.gateway.part2.paging import (
    PATH_BATCH,
    PATH_BATCHES,
    Cursor,
    Limit,
    decode_position,
    encode_position,
    page_size,
    paged,
    paged_raw,
    slice_page,
)
from aadsys.gateway.part2.patterns import BASE64URL, ID_SHORT
from aadsys.gateway.part2.registry import PROFILES as REGISTRY_PROFILES
from aadsys.gateway.part2.registry import add_registry_routes
from aadsys.gateway.part2.repository import AasRegistry, AasRepository, Found
from aadsys.gateway.part2.responses import ERRORS, content, not_found, ok, ok_raw
from aadsys.gateway.part2.results import AasApiError, ResultRoute, Translate, result_route
from aadsys.gateway.part2.submodel_routes import add_submodel_routes, submodel_reference
from aas_models.serialization import Extent, Json, Level, metadata, paths, shaped, value_only

PROFILES = [
    "https://admin-shell.io/aas/API/3/0/AssetAdministrationShellRepositoryServiceSpecification/SSP-002",
    "https://admin-shell.io/aas/API/3/0/SubmodelRepositoryServiceSpecification/SSP-002",
]
SHELLS, SUBMODELS = "Asset Administration Shell Repository API", "Submodel Repository API"


def shell_reference(shell: Json) -> Json:
    return {"type": "ModelReference", "keys": [{"type": "AssetAdministrationShell", "value": shell["id"]}]}


def _text_without_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" not in value  # no stored text holds NUL (PostgreSQL cannot)


def aas_api_router(repository_dep: Callable[..., Awaitable[AasRepository]], reader_dep: Callable[..., Any], *,
                   translate: Translate | None = None,
                   registry: tuple[Callable[..., Awaitable[AasRegistry]], str] | None = None) -> APIRouter:
    """Every route depends on ``reader_dep`` (authorization); every error leaves as a Part 2 Result body, the owner's
    own errors (those of ``reader_dep`` and the repository) through ``translate``.

    With ``registry`` (its dependency, and the full URL this API is reached at) the router serves the registry and
    discovery profiles too (``aadsys.gateway.part2.registry``), and ``/description`` lists them."""
    route_class = result_route(translate) if translate else ResultRoute
    router = APIRouter(route_class=route_class, dependencies=[Depends(reader_dep)], responses=ERRORS)
    Repository = Annotated[AasRepository, Depends(repository_dep)]
    profiles = list(PROFILES)
    if registry is not None:
        # First: a request is matched against the routes in order, at a few microseconds each, and the repository's
        # most polled reads never reach them (``StoredReads``), while every registry read does.
        add_registry_routes(router, *registry)
        profiles += REGISTRY_PROFILES

    # Every dependency and route is async: a read is one indexed lookup (``AasRepository``), cheaper than the hop to
    # a worker thread that FastAPI makes for each plain ``def``.
    async def resolve_shell(aasIdentifier: AasIdentifier, repo: Repository) -> Found:  # noqa: N803 (the spec's name)
        aas_id = decode_id(aasIdentifier, "aasIdentifier")
        shell = await repo.get_shell(aas_id)
        if shell is None:
            raise not_found("Asset Administration Shell", aas_id)
        return Found(aas_id, shell)

    async def resolve_submodel(submodelIdentifier: SubmodelIdentifier, repo: Repository) -> Found:  # noqa: N803
        submodel_id = decode_id(submodelIdentifier, "submodelIdentifier")
        submodel = await repo.get_submodel(submodel_id)
        if submodel is None:
            raise not_found("submodel", submodel_id)
        return Found(submodel_id, submodel)

    async def resolve_shell_submodel(shell: Annotated[Found, Depends(resolve_shell)],
                                     submodelIdentifier: SubmodelIdentifier, repo: Repository) -> Found:  # noqa: N803
        submodel_id = decode_id(submodelIdentifier, "submodelIdentifier")
        referenced = {ref["keys"][-1]["value"] for ref in shell.json.get("submodels") or [] if ref.get("keys")}
        if submodel_id not in referenced:
            raise AasApiError(404, f"the shell '{shell.id}' refers to no submodel '{submodel_id}'")
        submodel = await repo.get_submodel(submodel_id)
        if submodel is None:
            raise not_found("submodel", submodel_id)
        return Found(submodel_id, submodel)

    Shell = Annotated[Found, Depends(resolve_shell)]

    AssetIds = Annotated[list[EncodedId] | None, Query(
        alias="assetIds", description="SpecificAssetIds, each base64url-encoded JSON, e.g. of "
                                      '{"name": "globalAssetId", "value": "urn:pec:sales-order:SO-1001"}')]
    IdShort = Annotated[str | None, Query(alias="idShort", max_length=128, pattern=f"^{ID_SHORT}$")]

    async def shell_page(repo: Repository, assetIds: AssetIds = None, idShort: IdShort = None,  # noqa: N803
                         limit: Limit = None, cursor: Cursor = None) -> tuple[list[bytes], str | None]:
        """One page of shells, filtered by idShort and assetIds (each a base64url-encoded SpecificAssetId)."""
        wanted: list[dict[str, Any]] = []
        for encoded in assetIds or []:
            decoded = decode_json_id(encoded, "assetIds")
            for item in decoded if isinstance(decoded, list) else [decoded]:
                if not (isinstance(item, dict) and _text_without_nul(item.get("name"))
                        and _text_without_nul(item.get("value"))):
                    raise AasApiError(400, "assetIds must each be a base64url-encoded SpecificAssetId, "
                                           'e.g. {"name": "globalAssetId", "value": "urn:pec:sales-order:SO-1001"}')
                wanted.append(item)
        return await repo.list_shells(id_short=idShort, asset_ids=wanted or None, cursor=cursor,
                                      limit=page_size(limit))

    ShellPage = Annotated[tuple[list[bytes], str | None], Depends(shell_page)]

    @router.get("/shells", operation_id="GetAllAssetAdministrationShells", tags=[SHELLS],
                summary="All shells, paged; filter by idShort or assetIds")
    async def get_shells(page: ShellPage) -> Response:
        return paged_raw(*page)

    @router.get("/shells/$reference", operation_id="GetAllAssetAdministrationShells-Reference", tags=[SHELLS],
                summary="References to all shells, paged")
    async def get_shell_references(page: ShellPage) -> Response:
        return paged([shell_reference(orjson.loads(s)) for s in page[0]], page[1])

    @router.get("/shells/{aasIdentifier}", operation_id="GetAssetAdministrationShellById", tags=[SHELLS],
                summary="A shell")
    async def get_shell(shell: Shell) -> Response:
        return ok_raw(shell.raw)

    @router.get("/shells/{aasIdentifier}/$reference", operation_id="GetAssetAdministrationShellById-Reference",
                tags=[SHELLS], summary="A reference to a shell")
    async def get_shell_reference(shell: Shell) -> Response:
        return ok(shell_reference(shell.json))

    @router.get("/shells/{aasIdentifier}/asset-information", operation_id="GetAssetInformation-AasRepository",
                tags=[SHELLS], summary="A shell's asset information")
    async def get_asset_information(shell: Shell) -> Response:
        return ok(shell.json.get("assetInformation") or {})

    @router.get("/shells/{aasIdentifier}/asset-information/thumbnail", operation_id="GetThumbnail-AasRepository",
                tags=[SHELLS], summary="A shell's thumbnail")
    async def get_thumbnail(shell: Shell, repo: Repository) -> Response:
        thumbnail = (shell.json.get("assetInformation") or {}).get("defaultThumbnail") or {}
        found = await repo.open_file(thumbnail.get("path") or "")
        if found is None:
            raise AasApiError(404, f"the shell '{shell.id}' has no thumbnail stored here")
        return content(found[0], thumbnail.get("contentType") or found[1], "thumbnail")

    @router.get("/shells/{aasIdentifier}/submodel-refs", operation_id="GetAllSubmodelReferences-AasRepository",
                tags=[SHELLS], summary="References to a shell's submodels, paged")
    async def get_submodel_refs(shell: Shell, limit: Limit = None, cursor: Cursor = None) -> Response:
        return paged(*slice_page(list(shell.json.get("submodels") or []), limit, cursor))

    add_submodel_routes(router, "/shells/{aasIdentifier}/submodels/{submodelIdentifier}", resolve_shell_submodel,
                        repository_dep, SHELLS, "-AasRepository")

    SemanticId = Annotated[str | None, Query(alias="semanticId", min_length=1, pattern=BASE64URL,
                                             description="base64url-encoded semantic id")]

    async def submodel_page(repo: Repository, semanticId: SemanticId = None, idShort: IdShort = None,  # noqa: N803
                            limit: Limit = None, cursor: Cursor = None) -> tuple[list[Found], str | None]:
        """One page of submodels, filtered by semanticId (base64url) and idShort: what every list variant serves."""
        wanted = decode_id(semanticId, "semanticId") if semanticId else None
        raw, after = await repo.list_submodels(semantic_id=wanted, id_short=idShort, cursor=cursor,
                                               limit=page_size(limit))
        return [Found("", sm) for sm in raw], after

    SubmodelPage = Annotated[tuple[list[Found], str | None], Depends(submodel_page)]

    @router.get("/submodels", operation_id="GetAllSubmodels", tags=[SUBMODELS],
                summary="All submodels, paged; filter by semanticId or idShort")
    async def get_submodels(page: SubmodelPage, repo: Repository, level: Level = Level.deep,
                            extent: Extent = Extent.withoutBlobValue) -> Response:
        if level is Level.deep and extent is Extent.withoutBlobValue and not (
                await repo.may_hold_blobs() and any(s.may_hold_blobs for s in page[0])):
            return paged_raw([s.raw for s in page[0]], page[1])
        return paged([shaped(s.json, level, extent) for s in page[0]], page[1])

    @router.get("/submodels/$metadata", operation_id="GetAllSubmodels-Metadata", tags=[SUBMODELS],
                summary="All submodels without their elements, paged")
    async def get_submodels_metadata(page: SubmodelPage) -> Response:
        return paged([metadata(s.json) for s in page[0]], page[1])

    @router.get("/submodels/$value", operation_id="GetAllSubmodels-ValueOnly", tags=[SUBMODELS],
                summary="All submodels' values (ValueOnly), paged")
    async def get_submodels_value(page: SubmodelPage, level: Level = Level.deep,
                                  extent: Extent = Extent.withoutBlobValue) -> Response:
        return paged([value_only(s.json, level, extent) for s in page[0]], page[1])

    @router.get("/submodels/$reference", operation_id="GetAllSubmodels-Reference", tags=[SUBMODELS],
                summary="References to all submodels, paged")
    async def get_submodels_reference(page: SubmodelPage) -> Response:
        return paged([submodel_reference(s.json) for s in page[0]], page[1])

    @router.get("/submodels/$path", operation_id="GetAllSubmodels-Path", tags=[SUBMODELS],
                summary="The idShortPaths of all submodels, paged")
    async def get_submodels_path(repo: Repository, semanticId: SemanticId = None,  # noqa: N803
                                 idShort: IdShort = None, limit: Limit = None, cursor: Cursor = None,  # noqa: N803
                                 level: Level = Level.deep) -> Response:
        # The page counts idShortPaths, not submodels: it is cut from batches of submodels, and its cursor says
        # where in a batch it stopped.
        wanted = decode_id(semanticId, "semanticId") if semanticId else None
        size = page_size(limit)
        at, index, skip = decode_position(cursor)
        out: list[str] = []
        for _ in range(PATH_BATCHES):
            batch, after = await repo.list_submodels(semantic_id=wanted, id_short=idShort, cursor=at,
                                                     limit=PATH_BATCH)
            for i in range(index, len(batch)):
                found = paths(orjson.loads(batch[i]), "", level)[skip:]
                room = size - len(out)
                out += found[:room]
                if len(found) > room:
                    return paged(out, encode_position(at, i, skip + room))
                skip = 0
            if after is None:
                return paged(out, None)
            at, index = after, 0
            if len(out) == size:
                break
        return paged(out, encode_position(at, 0, 0))

    add_submodel_routes(router, "/submodels/{submodelIdentifier}", resolve_submodel, repository_dep, SUBMODELS, "")

    @router.get("/description", operation_id="GetDescription", tags=["Description"],
                summary="The service profiles this server implements")
    async def get_description() -> Response:
        return ok({"profiles": profiles})

    return router

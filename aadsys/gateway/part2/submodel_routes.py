"""Routes of one submodel and its elements, mounted twice: under ``/submodels/{id}`` (Submodel Repository)
and under ``/shells/{aasId}/submodels/{id}`` (AAS Repository), as both SSP-002 profiles require.
"""

# No "from __future__ import annotations": FastAPI must see the locally built Annotated dependency types.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from aadsys.gateway.part2.elements import IdShortPath, element_at, element_reference, element_value_at, find_element
from aadsys.gateway.part2.paging import Cursor, Limit, paged, slice_page
from aadsys.gateway.part2.repository import AasRepository, Found
from aadsys.gateway.part2.responses import content, ok, ok_raw
from aadsys.gateway.part2.results import AasApiError
from aas_models.serialization import (
    Extent,
    Json,
    Level,
    blob_bytes,
    children,
    metadata,
    paths,
    shaped,
    value_only,
)

# Part 2 "Applicability of SerializationModifiers": Content=Path applies to these element kinds only; others 400.
PATH_HOLDERS = ("SubmodelElementCollection", "SubmodelElementList", "Entity")


def submodel_reference(submodel: Json) -> Json:
    return {"type": "ModelReference", "keys": [{"type": "Submodel", "value": submodel["id"]}]}


def add_submodel_routes(router: APIRouter, prefix: str, resolve: Callable[..., Any],
                        repository: Callable[..., Awaitable[AasRepository]], tag: str, suffix: str) -> None:
    """``resolve`` is the dependency that finds the submodel (404 when absent); ``suffix`` tells operation ids apart."""
    Submodel = Annotated[Found, Depends(resolve)]
    Repository = Annotated[AasRepository, Depends(repository)]
    elements = f"{prefix}/submodel-elements"

    def get(path: str, operation: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return router.get(path, operation_id=operation + suffix, summary=summary, tags=[tag])

    @get(prefix, "GetSubmodelById", "A submodel")
    async def get_submodel(submodel: Submodel, level: Level = Level.deep, extent: Extent = Extent.withoutBlobValue
                           ) -> Response:
        if level is Level.deep and (extent is Extent.withBlobValue or not submodel.may_hold_blobs):
            return ok_raw(submodel.raw)  # as stored: the modifiers change nothing
        return ok(shaped(submodel.json, level, extent))

    @get(f"{prefix}/$metadata", "GetSubmodelById-Metadata", "A submodel without its elements")
    async def get_submodel_metadata(submodel: Submodel) -> Response:
        return ok(metadata(submodel.json))

    @get(f"{prefix}/$value", "GetSubmodelById-ValueOnly", "A submodel's values (ValueOnly)")
    async def get_submodel_value(submodel: Submodel, repo: Repository, level: Level = Level.deep,
                                 extent: Extent = Extent.withoutBlobValue) -> Response:
        if level is Level.deep and extent is Extent.withoutBlobValue:
            stored = await repo.get_submodel_value(submodel.id)
            if stored is not None:
                return ok_raw(stored)
        return ok(value_only(submodel.json, level, extent))

    @get(f"{prefix}/$reference", "GetSubmodelById-Reference", "A reference to a submodel")
    async def get_submodel_reference(submodel: Submodel) -> Response:
        return ok(submodel_reference(submodel.json))

    @get(f"{prefix}/$path", "GetSubmodelById-Path", "The idShortPaths of a submodel's elements")
    async def get_submodel_path(submodel: Submodel, level: Level = Level.deep) -> Response:
        return ok(paths(submodel.json, "", level))

    async def element_page(submodel: Submodel, limit: Limit = None, cursor: Cursor = None
                           ) -> tuple[list[Json], str | None]:
        return slice_page(children(submodel.json), limit, cursor)

    ElementPage = Annotated[tuple[list[Json], str | None], Depends(element_page)]

    @get(elements, "GetAllSubmodelElements", "A submodel's elements, paged")
    async def get_elements(page: ElementPage, level: Level = Level.deep, extent: Extent = Extent.withoutBlobValue
                     ) -> Response:
        return paged([shaped(e, level, extent) for e in page[0]], page[1])

    @get(f"{elements}/$metadata", "GetAllSubmodelElements-Metadata", "Elements without their values, paged")
    async def get_elements_metadata(page: ElementPage) -> Response:
        return paged([metadata(e) for e in page[0]], page[1])

    @get(f"{elements}/$value", "GetAllSubmodelElements-ValueOnly", "Element values (ValueOnly), paged")
    async def get_elements_value(page: ElementPage, level: Level = Level.deep,
                           extent: Extent = Extent.withoutBlobValue) -> Response:
        return paged([{e.get("idShort"): value_only(e, level, extent)} for e in page[0]], page[1])

    @get(f"{elements}/$reference", "GetAllSubmodelElements-Reference", "References to the elements, paged")
    async def get_elements_reference(submodel: Submodel, page: ElementPage) -> Response:
        return paged([element_reference(submodel.id, [e], str(e.get("idShort"))) for e in page[0]], page[1])

    @get(f"{elements}/$path", "GetAllSubmodelElements-Path", "The idShortPaths of the elements, paged")
    async def get_elements_path(submodel: Submodel, level: Level = Level.deep, limit: Limit = None,
                                cursor: Cursor = None) -> Response:
        return paged(*slice_page(paths(submodel.json, "", level), limit, cursor))  # the page counts paths

    @get(f"{elements}/{{idShortPath}}", "GetSubmodelElementByPath", "One element by its idShortPath")
    async def get_element(submodel: Submodel, idShortPath: IdShortPath, level: Level = Level.deep,  # noqa: N803 (spec name)
                    extent: Extent = Extent.withoutBlobValue) -> Response:
        return ok(element_at(submodel.json, idShortPath, level, extent))

    @get(f"{elements}/{{idShortPath}}/$metadata", "GetSubmodelElementByPath-Metadata", "One element, no values")
    async def get_element_metadata(submodel: Submodel, idShortPath: IdShortPath) -> Response:  # noqa: N803
        return ok(metadata(find_element(submodel.json, idShortPath)[0]))

    @get(f"{elements}/{{idShortPath}}/$value", "GetSubmodelElementByPath-ValueOnly", "One element's value")
    async def get_element_value(submodel: Submodel, idShortPath: IdShortPath, level: Level = Level.deep,  # noqa: N803
                          extent: Extent = Extent.withoutBlobValue) -> Response:
        return ok(element_value_at(submodel.json, idShortPath, level, extent))

    @get(f"{elements}/{{idShortPath}}/$reference", "GetSubmodelElementByPath-Reference", "A reference to it")
    async def get_element_reference(submodel: Submodel, idShortPath: IdShortPath) -> Response:  # noqa: N803
        _, chain = find_element(submodel.json, idShortPath)
        return ok(element_reference(submodel.id, chain, idShortPath))

    @get(f"{elements}/{{idShortPath}}/$path", "GetSubmodelElementByPath-Path", "The idShortPaths below it")
    async def get_element_path(submodel: Submodel, idShortPath: IdShortPath, level: Level = Level.deep) -> Response:  # noqa: N803
        element = find_element(submodel.json, idShortPath)[0]
        if element.get("modelType") not in PATH_HOLDERS:
            raise AasApiError(400, f"'{idShortPath}' is a {element.get('modelType')}, which has no elements below "
                                   f"it; $path applies to {', '.join(PATH_HOLDERS)} only")
        return ok(paths(element, idShortPath, level))

    @get(f"{elements}/{{idShortPath}}/attachment", "GetFileByPath", "The file or blob content of an element")
    async def get_attachment(submodel: Submodel, idShortPath: IdShortPath, repo: Repository) -> Response:  # noqa: N803
        element, _ = find_element(submodel.json, idShortPath)
        name = str(element.get("idShort") or "attachment")
        if element.get("modelType") == "Blob":
            return content(blob_bytes(element), element.get("contentType") or "application/octet-stream", name)
        if element.get("modelType") != "File":
            raise AasApiError(400, f"'{idShortPath}' is a {element.get('modelType')}; only File and Blob "
                                   "elements have attachments")
        found = await repo.open_file(element.get("value") or "")
        if found is None:
            raise AasApiError(404, f"the file '{element.get('value')}' of '{idShortPath}' is not stored here")
        return content(found[0], found[1], name)

"""Routes of the read profiles AAS Registry SSP-002, Submodel Registry SSP-002 and Discovery SSP-001 of IDTA AAS
Part 2 API v3.0, over any ``AasRegistry``.

A descriptor leaves with its endpoints: the full URL of the shell (interface ``AAS-3.0``) or submodel
(``SUBMODEL-3.0``) in this server's own repository API, so a client that found it here reads on there. Operations
that would change a registry or the asset links answer 501 (Part 2 ServerNotImplemented: "API Operations beyond
the supported service profiles"), after their input is checked, so a malformed request still learns what is wrong.
"""

# No "from __future__ import annotations": FastAPI must see the locally built Annotated dependency types.

import inspect
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aadsys.gateway.part2.identifiers import AasIdentifier, EncodedId, SubmodelIdentifier, decode_id, encode_id
from aadsys.gateway.part2.paging import Cursor, Limit, page_size, paged, slice_page
from aadsys.gateway.part2.patterns import BASE64URL
from aadsys.gateway.part2.repository import AasRegistry
from aadsys.gateway.part2.responses import not_found, ok
from aadsys.gateway.part2.results import JSON, AasApiError
from aas_models.serialization import Json

_PREFIX = "https://admin-shell.io/aas/API/3/0/"
PROFILES = [f"{_PREFIX}AssetAdministrationShellRegistryServiceSpecification/SSP-002",
            f"{_PREFIX}SubmodelRegistryServiceSpecification/SSP-002",
            f"{_PREFIX}DiscoveryServiceSpecification/SSP-001"]
SHELL_REGISTRY, SUBMODEL_REGISTRY = "Asset Administration Shell Registry API", "Submodel Registry API"
DISCOVERY = "Asset Administration Shell Basic Discovery API"
NOT_IMPLEMENTED: dict[int | str, dict[str, Any]] = {501: {"description": "Not Implemented: this server serves the "
                                                                          "read profile only",
                                                          "content": {JSON: {}}}}


class AssetKind(StrEnum):
    """IDTA AAS Part 1 v3.0 AssetKind."""

    Instance = "Instance"
    Type = "Type"
    NotApplicable = "NotApplicable"


_Text = Annotated[str, Field(min_length=1, max_length=2000)]
KeyType = Literal[
    "AnnotatedRelationshipElement", "AssetAdministrationShell", "BasicEventElement", "Blob", "Capability",
    "ConceptDescription", "DataElement", "Entity", "EventElement", "File", "FragmentReference", "GlobalReference",
    "Identifiable", "MultiLanguageProperty", "Operation", "Property", "Range", "Referable", "ReferenceElement",
    "RelationshipElement", "Submodel", "SubmodelElement", "SubmodelElementCollection", "SubmodelElementList"]


class Key(BaseModel):
    type: KeyType
    value: _Text


class _Optional(BaseModel):
    """Optional members of the metamodel may be left out, but are never null (the JSON schema says so)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(value is None for value in data.values()):
            raise ValueError(f"{', '.join(k for k, v in data.items() if v is None)} must be left out, not null")
        return data


class Reference(_Optional):
    """IDTA AAS Part 1 v3.0 Reference."""

    type: Literal["ExternalReference", "ModelReference"]
    keys: list[Key] = Field(min_length=1)
    referredSemanticId: "Reference | None" = None  # noqa: N815 (the spec's name)


class SpecificAssetId(_Optional):
    """IDTA AAS Part 1 v3.0 SpecificAssetId: what discovery finds a shell by."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=64)]
    value: _Text
    semanticId: Reference | None = None  # noqa: N815
    supplementalSemanticIds: list[Reference] | None = Field(default=None, min_length=1)  # noqa: N815
    externalSubjectId: Reference | None = None  # noqa: N815


def protocol_information(href: str) -> Json:
    return {"href": href, "endpointProtocol": "HTTP", "endpointProtocolVersion": ["1.1"]}


def with_endpoints(descriptor: Json, base: str) -> Json:
    """A shell descriptor with its ``AAS-3.0`` endpoint, and each submodel descriptor with its ``SUBMODEL-3.0`` one."""
    out = {**descriptor, "endpoints": [{"interface": "AAS-3.0", "protocolInformation": protocol_information(
        f"{base}/shells/{encode_id(descriptor['id'])}")}]}
    if "submodelDescriptors" in out:
        out["submodelDescriptors"] = [submodel_with_endpoint(sm, base) for sm in out["submodelDescriptors"]]
    return out


def submodel_with_endpoint(descriptor: Json, base: str) -> Json:
    return {**descriptor, "endpoints": [{"interface": "SUBMODEL-3.0", "protocolInformation": protocol_information(
        f"{base}/submodels/{encode_id(descriptor['id'])}")}]}


def not_implemented(what: str) -> AasApiError:
    return AasApiError(501, f"{what} is not implemented: this server serves the read profiles of its registry and "
                            "discovery, whose entries follow from the records it stores; create or receive a record "
                            "to change them")


def decode_asset_ids(encoded: list[str] | None) -> list[dict[str, str]]:
    """assetIds of a lookup: each base64url-encoded JSON of one SpecificAssetId; 400 naming the expected shape."""
    out = []
    for value in encoded or []:
        try:
            found = SpecificAssetId.model_validate_json(decode_id(value, "assetIds"))
        except ValidationError:
            raise AasApiError(400, "assetIds must each be a base64url-encoded SpecificAssetId JSON object, e.g. of "
                                   '{"name": "orderId", "value": "SO-1001"} or {"name": "globalAssetId", '
                                   '"value": "urn:pec:sales-order:SO-1001"}') from None
        if "\x00" in found.name + found.value:
            raise AasApiError(400, "assetIds must not hold NUL characters")
        out.append({"name": found.name, "value": found.value})
    return out


def add_registry_routes(router: APIRouter, registry_dep: Callable[..., Awaitable[AasRegistry]], base: str) -> None:
    """Mount the registry and discovery routes on ``router``; ``base`` is the full URL of this server's Part 2 API
    (e.g. ``https://pec.example/api/v3.0``), where each descriptor's endpoint points."""
    Registry = Annotated[AasRegistry, Depends(registry_dep)]
    AssetType = Annotated[str | None, Query(alias="assetType", min_length=1, pattern=BASE64URL,
                                            description="the asset's type (a type shell id), base64url-encoded")]
    AssetIds = Annotated[list[EncodedId] | None, Query(
        alias="assetIds", description="SpecificAssetIds, each base64url-encoded JSON, all of which a shell must "
                                      'carry, e.g. of {"name": "orderId", "value": "SO-1001"}')]
    Descriptor = Annotated[dict[str, Any], Body(description="a descriptor (not stored here: 501)")]
    AssetLinks = Annotated[list[SpecificAssetId], Body(description="SpecificAssetIds (not stored here: 501)")]

    async def resolve_shell_descriptor(aasIdentifier: AasIdentifier, registry: Registry) -> Json:  # noqa: N803
        aas_id = decode_id(aasIdentifier, "aasIdentifier")
        found = await registry.get_shell_descriptor(aas_id)
        if found is None:
            raise not_found("Asset Administration Shell Descriptor", aas_id)
        return with_endpoints(found, base)

    ShellDescriptor = Annotated[Json, Depends(resolve_shell_descriptor)]

    def get(path: str, operation: str, tag: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return router.get(path, operation_id=operation, tags=[tag], summary=summary)

    def refused(method: str, path: str, operation: str, tag: str, what: str, **extra: Any) -> None:
        """A write of the full profile, beyond the read profile served: its input checked, then 501."""
        async def refuse(**_: Any) -> Response:
            raise not_implemented(what)

        refuse.__signature__ = _signature(extra)  # type: ignore[attr-defined] # FastAPI reads the parameters here
        # A body without Content-Type is read as JSON too (the IDTA engine 0.6.0 sends its bodies so): the answer
        # is 501 either way once the input is valid.
        router.add_api_route(path, refuse, methods=[method], operation_id=operation, tags=[tag],
                             summary=f"{what}: not implemented (501)", responses=NOT_IMPLEMENTED,
                             status_code=501, strict_content_type=False)

    # -- AAS Registry --------------------------------------------------------------------------------
    @get("/shell-descriptors", "GetAllAssetAdministrationShellDescriptors", SHELL_REGISTRY,
         "All shell descriptors, paged; filter by assetKind or assetType")
    async def get_shell_descriptors(registry: Registry, limit: Limit = None, cursor: Cursor = None,
                                    assetKind: Annotated[AssetKind | None, Query()] = None,  # noqa: N803
                                    assetType: AssetType = None) -> Response:  # noqa: N803
        wanted = decode_id(assetType, "assetType") if assetType else None
        found, after = await registry.list_shell_descriptors(
            asset_kind=assetKind.value if assetKind else None, asset_type=wanted, cursor=cursor,
            limit=page_size(limit))
        return paged([with_endpoints(d, base) for d in found], after)

    @get("/shell-descriptors/{aasIdentifier}", "GetAssetAdministrationShellDescriptorById", SHELL_REGISTRY,
         "A shell descriptor")
    async def get_shell_descriptor(descriptor: ShellDescriptor) -> Response:
        return ok(descriptor)

    @get("/shell-descriptors/{aasIdentifier}/submodel-descriptors", "GetAllSubmodelDescriptorsThroughSuperpath",
         SHELL_REGISTRY, "A shell's submodel descriptors, paged")
    async def get_shell_submodel_descriptors(descriptor: ShellDescriptor, limit: Limit = None,
                                             cursor: Cursor = None) -> Response:
        return paged(*slice_page(list(descriptor.get("submodelDescriptors") or []), limit, cursor))

    @get("/shell-descriptors/{aasIdentifier}/submodel-descriptors/{submodelIdentifier}",
         "GetSubmodelDescriptorByIdThroughSuperpath", SHELL_REGISTRY, "One of a shell's submodel descriptors")
    async def get_shell_submodel_descriptor(descriptor: ShellDescriptor,
                                            submodelIdentifier: SubmodelIdentifier) -> Response:  # noqa: N803
        submodel_id = decode_id(submodelIdentifier, "submodelIdentifier")
        found = next((sm for sm in descriptor.get("submodelDescriptors") or [] if sm["id"] == submodel_id), None)
        if found is None:
            raise AasApiError(404, f"the shell '{descriptor['id']}' has no submodel descriptor '{submodel_id}'")
        return ok(found)

    one_shell = "/shell-descriptors/{aasIdentifier}"
    its_submodels = f"{one_shell}/submodel-descriptors"
    refused("POST", "/shell-descriptors", "PostAssetAdministrationShellDescriptor", SHELL_REGISTRY,
            "Registering a shell descriptor", descriptor=Descriptor)
    refused("PUT", one_shell, "PutAssetAdministrationShellDescriptorById", SHELL_REGISTRY,
            "Replacing a shell descriptor", aasIdentifier=AasIdentifier, descriptor=Descriptor)
    refused("DELETE", one_shell, "DeleteAssetAdministrationShellDescriptorById", SHELL_REGISTRY,
            "Deleting a shell descriptor", aasIdentifier=AasIdentifier)
    refused("POST", its_submodels, "PostSubmodelDescriptor-ThroughSuperpath", SHELL_REGISTRY,
            "Registering a submodel descriptor", aasIdentifier=AasIdentifier, descriptor=Descriptor)
    refused("PUT", f"{its_submodels}/{{submodelIdentifier}}", "PutSubmodelDescriptorByIdThroughSuperpath",
            SHELL_REGISTRY, "Replacing a submodel descriptor", aasIdentifier=AasIdentifier,
            submodelIdentifier=SubmodelIdentifier, descriptor=Descriptor)
    refused("DELETE", f"{its_submodels}/{{submodelIdentifier}}", "DeleteSubmodelDescriptorByIdThroughSuperpath",
            SHELL_REGISTRY, "Deleting a submodel descriptor", aasIdentifier=AasIdentifier,
            submodelIdentifier=SubmodelIdentifier)

    # -- Submodel Registry -----------------------------------------------------------------------------
    @get("/submodel-descriptors", "GetAllSubmodelDescriptors", SUBMODEL_REGISTRY, "All submodel descriptors, paged")
    async def get_submodel_descriptors(registry: Registry, limit: Limit = None, cursor: Cursor = None) -> Response:
        found, after = await registry.list_submodel_descriptors(cursor=cursor, limit=page_size(limit))
        return paged([submodel_with_endpoint(d, base) for d in found], after)

    @get("/submodel-descriptors/{submodelIdentifier}", "GetSubmodelDescriptorById", SUBMODEL_REGISTRY,
         "A submodel descriptor")
    async def get_submodel_descriptor(registry: Registry, submodelIdentifier: SubmodelIdentifier  # noqa: N803
                                      ) -> Response:
        submodel_id = decode_id(submodelIdentifier, "submodelIdentifier")
        found = await registry.get_submodel_descriptor(submodel_id)
        if found is None:
            raise not_found("Submodel Descriptor", submodel_id)
        return ok(submodel_with_endpoint(found, base))

    one_submodel = "/submodel-descriptors/{submodelIdentifier}"
    refused("POST", "/submodel-descriptors", "PostSubmodelDescriptor", SUBMODEL_REGISTRY,
            "Registering a submodel descriptor", descriptor=Descriptor)
    refused("PUT", one_submodel, "PutSubmodelDescriptorById", SUBMODEL_REGISTRY, "Replacing a submodel descriptor",
            submodelIdentifier=SubmodelIdentifier, descriptor=Descriptor)
    refused("DELETE", one_submodel, "DeleteSubmodelDescriptorById", SUBMODEL_REGISTRY,
            "Deleting a submodel descriptor", submodelIdentifier=SubmodelIdentifier)

    # -- Discovery ---------------------------------------------------------------------------------------
    @get("/lookup/shells", "GetAllAssetAdministrationShellIdsByAssetLink", DISCOVERY,
         "Ids of the shells that carry all the given asset ids, paged")
    async def lookup_shells(registry: Registry, assetIds: AssetIds = None, limit: Limit = None,  # noqa: N803
                            cursor: Cursor = None) -> Response:
        found, after = await registry.lookup_shells(asset_ids=decode_asset_ids(assetIds), cursor=cursor,
                                                    limit=page_size(limit))
        return paged(found, after)

    @get("/lookup/shells/{aasIdentifier}", "GetAllAssetLinksById", DISCOVERY, "The asset ids that find a shell")
    async def get_asset_links(registry: Registry, aasIdentifier: AasIdentifier) -> Response:  # noqa: N803
        aas_id = decode_id(aasIdentifier, "aasIdentifier")
        found = await registry.get_asset_links(aas_id)
        if found is None:
            raise not_found("Asset Administration Shell", aas_id)
        return ok(found)

    refused("POST", "/lookup/shells/{aasIdentifier}", "PostAllAssetLinksById", DISCOVERY,
            "Linking asset ids to a shell", aasIdentifier=AasIdentifier, links=AssetLinks)
    refused("DELETE", "/lookup/shells/{aasIdentifier}", "DeleteAllAssetLinksById", DISCOVERY,
            "Unlinking a shell's asset ids", aasIdentifier=AasIdentifier)


def _signature(parameters: dict[str, Any]) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
                              for name, annotation in parameters.items()])

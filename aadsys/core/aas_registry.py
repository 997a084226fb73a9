"""The store seen as an AAS registry and discovery service (IDTA AAS Part 2 v3.0): shell and submodel
descriptors, and the asset ids that find a shell, built from what the store holds for the repository.

Nothing is kept twice. A descriptor is read from the indexed columns of the very instance row the repository
serves (shell id, idShort, globalAssetId, asset type and key) and from the ``submodels`` index (id, idShort,
semanticId), so it cannot drift from the shell it describes; its SpecificAssetIds follow from the asset type
(``aas_models.specific_asset_ids``). No AAS JSON is read or parsed for it. Own and received records alike are
listed; the type shells and their templates come first, as in the repository, and pages use the repository's
cursors and keyset (``aadsys.core.aas_repository``).

A descriptor has no endpoints here: where a shell is served is the gateway's to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, func, select, tuple_

from aadsys.core.aas_repository import Kept, SqlAasRepository, page_cursor, read_cursor
from aadsys.core.db import Database
from aadsys.core.tables import InstanceRow, SubmodelRow, table_of
from aas_models import (
    ASSET_TYPES,
    asset_types_named_by,
    instance_shell_prefix,
    specific_asset_ids,
    type_shell_of_instance,
)
from aas_models.serialization import Json, semantic_id_of

_I = table_of(InstanceRow)
_S = table_of(SubmodelRow)
_HEAD = (_I.c.id, _I.c.shell_id, _I.c.shell_id_short, _I.c.global_asset_id, _I.c.asset_type, _I.c.instance_key)
_SUBMODEL_HEAD = (_S.c.submodel_id, _S.c.id_short.label("submodel_id_short"), _S.c.semantic_id)
_LATEST = _I.c.is_latest.is_(True)


def _with_submodels(heads: Select[Any]) -> Select[Any]:
    """The instance rows ``heads`` selects, each joined to its submodels in their order: one statement a page."""
    page = heads.subquery()
    return (select(*page.c, *_SUBMODEL_HEAD).select_from(page.outerjoin(_S, _S.c.shell_id == page.c.shell_id))
            .order_by(page.c.id, _S.c.position))


# Built once: a read binds parameters only. Every list pages by keyset on an index ending in the id.
_SHELL_PAGE = select(*_HEAD).where(_LATEST, _I.c.id >= bindparam("after")).order_by(_I.c.id).limit(bindparam("n"))
_DESCRIPTOR_PAGE = _with_submodels(_SHELL_PAGE)
_DESCRIPTOR = _with_submodels(select(*_HEAD).where(_I.c.shell_id == bindparam("id"), _LATEST).limit(1))
_SUBMODEL = select(_S.c.submodel_id, _S.c.id_short, _S.c.semantic_id).where(_S.c.submodel_id == bindparam("id"))
_SUBMODEL_PAGE = (select(_S.c.first_seen, _S.c.submodel_id, _S.c.id_short, _S.c.semantic_id)
                  .where(tuple_(_S.c.first_seen, _S.c.submodel_id) >= tuple_(bindparam("after"), bindparam("tie")))
                  .order_by(_S.c.first_seen, _S.c.submodel_id).limit(bindparam("n")))
_LOOKUP_PAGE = (select(_I.c.id, _I.c.shell_id).where(_I.c.is_latest.is_(True), _I.c.id >= bindparam("after"))
                .order_by(_I.c.id).limit(bindparam("n")))
_GLOBAL_ASSET_ID = "globalAssetId"  # Part 2: a globalAssetId is looked up as the SpecificAssetId of this name


def submodel_descriptor(submodel_id: str, id_short: str | None, semantic_id: str | None) -> Json:
    """A SubmodelDescriptor without endpoints; its semanticId as the submodel's own (an ExternalReference)."""
    out: Json = {"id": submodel_id}
    if id_short:
        out["idShort"] = id_short
    if semantic_id:
        out["semanticId"] = _semantic_reference(semantic_id)
    return out


@lru_cache(maxsize=256)
def _semantic_reference(semantic_id: str) -> Json:
    """One object per semantic id (a page repeats a few of them), shared by the descriptors and never changed."""
    return {"type": "ExternalReference", "keys": [{"type": "GlobalReference", "value": semantic_id}]}


def shell_descriptor(shell_id: str, id_short: str | None, asset_kind: str, asset_type: str | None,
                     global_asset_id: str | None, asset_ids: list[dict[str, str]], submodels: list[Json]) -> Json:
    """An AssetAdministrationShellDescriptor without endpoints: what both the type level and instances are."""
    out: Json = {"id": shell_id}
    for name, value in (("idShort", id_short), ("assetKind", asset_kind), ("assetType", asset_type),
                        ("globalAssetId", global_asset_id), ("specificAssetIds", asset_ids)):
        if value:
            out[name] = value
    out["submodelDescriptors"] = submodels  # a page fills it from its rows after this
    return out


class SqlAasRegistry:
    """Descriptors and asset links of everything ``repository`` serves; ``aadsys.gateway.part2.AasRegistry``."""

    def __init__(self, db: Database, repository: SqlAasRepository) -> None:
        self.db = db
        self.repository = repository
        self._types: tuple[list[Json], list[Json]] | None = None

    # -- shell descriptors ----------------------------------------------------------------------------
    async def list_shell_descriptors(self, *, asset_kind: str | None, asset_type: str | None, cursor: str | None,
                                     limit: int) -> tuple[list[Json], str | None]:
        return await self.db.read(self._list_shell_descriptors, asset_kind, asset_type, cursor, limit)

    async def get_shell_descriptor(self, aas_id: str) -> Json | None:
        return await self.db.read(self._get_shell_descriptor, aas_id)

    def _list_shell_descriptors(self, asset_kind: str | None, asset_type: str | None, cursor: str | None,
                                limit: int) -> tuple[list[Json], str | None]:
        kind, after, _ = read_cursor(cursor)
        out: list[Json] = []
        if kind == "t":
            types_wanted = asset_kind in (None, "Type")
            for index, descriptor in enumerate(self._type_level()[0]):
                if index >= after and types_wanted and asset_type in (None, descriptor.get("assetType")):
                    if len(out) == limit:
                        return out, page_cursor("t", index)
                    out.append(descriptor)
            after = 0
        if asset_kind not in (None, "Instance"):
            return out, None
        query = _DESCRIPTOR_PAGE if asset_type is None else _with_submodels(
            _SHELL_PAGE.where(_of_asset_type(asset_type)))
        room = limit - len(out)
        found = _descriptors(self.db.fetch_all(query, {"after": after, "n": room + 1}))
        out += [descriptor for _, descriptor in found[:room]]
        return out, page_cursor("i", found[room][0]) if len(found) > room else None

    def _get_shell_descriptor(self, aas_id: str) -> Json | None:
        for descriptor in self._type_level()[0]:
            if descriptor["id"] == aas_id:
                return descriptor
        found = _descriptors(self.db.fetch_all(_DESCRIPTOR, {"id": aas_id}))
        return found[0][1] if found else None

    # -- submodel descriptors ---------------------------------------------------------------------------
    async def list_submodel_descriptors(self, *, cursor: str | None, limit: int) -> tuple[list[Json], str | None]:
        return await self.db.read(self._list_submodel_descriptors, cursor, limit)

    async def get_submodel_descriptor(self, submodel_id: str) -> Json | None:
        return await self.db.read(self._get_submodel_descriptor, submodel_id)

    def _list_submodel_descriptors(self, cursor: str | None, limit: int) -> tuple[list[Json], str | None]:
        kind, after, tie = read_cursor(cursor)
        out: list[Json] = []
        if kind == "t":
            for index, descriptor in enumerate(self._type_level()[1]):
                if index >= after:
                    if len(out) == limit:
                        return out, page_cursor("t", index)
                    out.append(descriptor)
            after, tie = 0, ""
        for row in self.db.fetch_all(_SUBMODEL_PAGE, {"after": after, "tie": tie, "n": limit - len(out) + 1}):
            if len(out) == limit:
                return out, page_cursor("i", row.first_seen, row.submodel_id)
            out.append(submodel_descriptor(row.submodel_id, row.id_short, row.semantic_id))
        return out, None

    def _get_submodel_descriptor(self, submodel_id: str) -> Json | None:
        for descriptor in self._type_level()[1]:
            if descriptor["id"] == submodel_id:
                return descriptor
        row = self.db.fetch_one(_SUBMODEL, {"id": submodel_id})
        return submodel_descriptor(row.submodel_id, row.id_short, row.semantic_id) if row is not None else None

    # -- discovery ----------------------------------------------------------------------------------------
    async def lookup_shells(self, *, asset_ids: list[dict[str, str]], cursor: str | None, limit: int
                            ) -> tuple[list[str], str | None]:
        """Ids of the shells that carry every one of ``asset_ids`` (each ``{"name", "value"}``), paged."""
        return await self.db.read(self._lookup_shells, asset_ids, cursor, limit)

    async def get_asset_links(self, aas_id: str) -> list[dict[str, str]] | None:
        """The asset ids that find the shell ``aas_id`` (its globalAssetId first), or None when it is not here."""
        descriptor = await self.get_shell_descriptor(aas_id)
        if descriptor is None:
            return None
        links = [{"name": _GLOBAL_ASSET_ID, "value": descriptor["globalAssetId"]}] \
            if descriptor.get("globalAssetId") else []
        return links + list(descriptor.get("specificAssetIds") or [])

    def _lookup_shells(self, asset_ids: list[dict[str, str]], cursor: str | None, limit: int
                       ) -> tuple[list[str], str | None]:
        kind, after, _ = read_cursor(cursor)
        out: list[str] = []
        if kind == "t":
            for index, descriptor in enumerate(self._type_level()[0]):
                if index >= after and all(_links_to(descriptor, wanted) for wanted in asset_ids):
                    if len(out) == limit:
                        return out, page_cursor("t", index)
                    out.append(descriptor["id"])
            after = 0
        query: Select[Any] = _LOOKUP_PAGE.where(*(_carries(wanted) for wanted in asset_ids))
        for row in self.db.fetch_all(query, {"after": after, "n": limit - len(out) + 1}):
            if len(out) == limit:
                return out, page_cursor("i", row.id)
            out.append(row.shell_id)
        return out, None

    # -- type level ------------------------------------------------------------------------------------
    def _type_level(self) -> tuple[list[Json], list[Json]]:
        """Descriptors of the type shells and their templates, made once from the repository's kept type level."""
        if self._types is None:
            shells, templates, _ = self.repository.type_level()
            by_id = {t.json["id"]: _template_descriptor(t) for t in templates}
            self._types = ([_type_descriptor(shell, by_id) for shell in shells], list(by_id.values()))
        return self._types


def _descriptors(rows: Sequence[Any]) -> list[tuple[int, Json]]:
    """(instance id, descriptor) of each instance in rows of ``_with_submodels``: one row per submodel, in order.
    Rows are unpacked by position, the cheapest way through a page of a hundred (profiled)."""
    out: list[tuple[int, Json]] = []
    last, submodels = None, list[Json]()
    for seq, shell, id_short, global_asset_id, slug, key, submodel, submodel_id_short, semantic_id in rows:
        if seq != last:
            last, submodels = seq, []
            out.append((seq, shell_descriptor(shell, id_short, "Instance", type_shell_of_instance(shell, slug, key),
                                              global_asset_id, specific_asset_ids(slug, key), submodels)))
        if submodel is not None:
            submodels.append(submodel_descriptor(submodel, submodel_id_short, semantic_id))
    return out


def _template_descriptor(template: Kept) -> Json:
    return submodel_descriptor(template.json["id"], template.json.get("idShort"), semantic_id_of(template.json))


def _type_descriptor(shell: Kept, templates: dict[str, Json]) -> Json:
    info = shell.json.get("assetInformation") or {}
    refs = [ref["keys"][-1]["value"] for ref in shell.json.get("submodels") or [] if ref.get("keys")]
    return shell_descriptor(shell.json["id"], shell.json.get("idShort"), info.get("assetKind") or "Type",
                            info.get("assetType"), info.get("globalAssetId"), [],
                            [templates[ref] for ref in refs if ref in templates])


def _links_to(descriptor: Json, wanted: dict[str, str]) -> bool:
    if wanted["name"] == _GLOBAL_ASSET_ID:
        return bool(descriptor.get("globalAssetId") == wanted["value"])
    return wanted in (descriptor.get("specificAssetIds") or [])


def _carries(wanted: dict[str, str]) -> ColumnElement[bool]:
    """The SQL condition that an instance row carries the asset id ``wanted``: by the indexes of migration 0006."""
    if wanted["name"] == _GLOBAL_ASSET_ID:
        return _I.c.global_asset_id == wanted["value"]
    types = asset_types_named_by(wanted["name"])
    return and_(_I.c.instance_key == wanted["value"], _I.c.asset_type.in_(types)) if types else false()


def _of_asset_type(asset_type: str) -> ColumnElement[bool]:
    """Instances whose assetType (their owner's type shell of that asset type) is ``asset_type``."""
    for slug in ASSET_TYPES:
        try:
            prefix = instance_shell_prefix(asset_type, slug)
        except ValueError:
            continue
        return and_(_I.c.asset_type == slug, func.substr(_I.c.shell_id, 1, len(prefix)) == prefix)
    return false()


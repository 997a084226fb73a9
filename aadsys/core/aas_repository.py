"""The store seen as an AAS repository: shells and submodels as AAS v3.0 JSON bytes, for the Part 2 API.

Reads move stored bytes: each shell, submodel and ValueOnly form is a slice of what the instance row holds
(``aadsys.core.parts``), found by one indexed lookup; nothing is parsed or serialised again. The type shells
and submodel templates of the registered asset types are read once per process and kept.

The listing order is: the type shells (and their submodel templates), then the latest revision of every
instance in storage order. Cursors are opaque; a page starts where the cursor says, by keyset, so a page in
the middle of a million costs what the first one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
from sqlalchemy import Select, and_, bindparam, select, tuple_

from aadsys.core.db import Database
from aadsys.core.errors import FileNotFound, InvalidCursor
from aadsys.core.files import FileStore
from aadsys.core.parts import shell_bytes, submodel_bytes, value_bytes
from aadsys.core.tables import AssetTypeRow, InstanceRow, SubmodelRow, table_of
from aas_models import base64url, referenced_digest
from aas_models.serialization import Json, semantic_id_of, value_only

_I = table_of(InstanceRow)
_S = table_of(SubmodelRow)
_T = table_of(AssetTypeRow)
_LATEST_OF_SHELL = and_(_I.c.shell_id == _S.c.shell_id, _I.c.is_latest.is_(True))
# Built once: a read binds parameters only.
_SHELL = select(_I.c.aas_json, _I.c.spans).where(_I.c.shell_id == bindparam("id"), _I.c.is_latest.is_(True)).limit(1)
_SHELL_PAGE = (select(_I.c.id, _I.c.aas_json, _I.c.spans).where(_I.c.is_latest.is_(True), _I.c.id >= bindparam("after"))
               .order_by(_I.c.id).limit(bindparam("n")))
_SUBMODEL = select(_I.c.aas_json, _I.c.spans, _S.c.position).join_from(_S, _I, _LATEST_OF_SHELL).where(
    _S.c.submodel_id == bindparam("id"))
_VALUE = select(_I.c.value_json, _I.c.spans, _S.c.position).join_from(_S, _I, _LATEST_OF_SHELL).where(
    _S.c.submodel_id == bindparam("id"))
_SUBMODEL_PAGE = (select(_S.c.first_seen, _S.c.submodel_id, _S.c.position, _I.c.aas_json, _I.c.spans)
                  .join_from(_S, _I, _LATEST_OF_SHELL)
                  .where(tuple_(_S.c.first_seen, _S.c.submodel_id) >= tuple_(bindparam("after"), bindparam("tie")))
                  .order_by(_S.c.first_seen, _S.c.submodel_id).limit(bindparam("n")))
_TYPES = select(_T.c.type_environment).order_by(_T.c.slug)


@dataclass(frozen=True, slots=True)
class Kept:
    """A type shell or template: its bytes, and the object for the filters."""

    raw: bytes
    json: Json


class SqlAasRepository:
    def __init__(self, db: Database, files: FileStore) -> None:
        self.db = db
        self.files = files
        self._types: tuple[list[Kept], list[Kept], dict[str, bytes]] | None = None

    # -- shells -----------------------------------------------------------------------------------
    async def list_shells(self, *, id_short: str | None, asset_ids: list[dict[str, Any]] | None, cursor: str | None,
                          limit: int) -> tuple[list[bytes], str | None]:
        return await self.db.read(self._list_shells, id_short, asset_ids, cursor, limit)

    async def get_shell(self, aas_id: str) -> bytes | None:
        return await self.db.read(self._get_shell, aas_id)

    def _list_shells(self, id_short: str | None, asset_ids: list[dict[str, Any]] | None, cursor: str | None,
                     limit: int) -> tuple[list[bytes], str | None]:
        kind, after, _ = read_cursor(cursor)
        global_ids = [a.get("value") for a in asset_ids or [] if a.get("name") == "globalAssetId"]
        if asset_ids and len(global_ids) != len(asset_ids):
            return [], None  # only globalAssetId is indexed here; other specific asset ids match nothing
        out: list[bytes] = []
        if kind == "t":
            for index, shell in enumerate(self.type_level()[0]):
                if index >= after and _matches(shell.json, id_short, global_ids):
                    if len(out) == limit:
                        return out, page_cursor("t", index)
                    out.append(shell.raw)
            after = 0
        query: Select[Any] = _SHELL_PAGE
        if id_short is not None:
            query = query.where(_I.c.shell_id_short == id_short)
        if global_ids:
            query = query.where(_I.c.global_asset_id.in_(global_ids))
        for row in self.db.fetch_all(query, {"after": after, "n": limit - len(out) + 1}):
            if len(out) == limit:
                return out, page_cursor("i", row.id)
            out.append(shell_bytes(row.aas_json, row.spans))
        return out, None

    def _get_shell(self, aas_id: str) -> bytes | None:
        for shell in self.type_level()[0]:
            if shell.json["id"] == aas_id:
                return shell.raw
        row = self.db.lookup(_SHELL, {"id": aas_id})
        return shell_bytes(*row) if row else None

    # -- submodels --------------------------------------------------------------------------------
    async def list_submodels(self, *, semantic_id: str | None, id_short: str | None, cursor: str | None, limit: int
                             ) -> tuple[list[bytes], str | None]:
        return await self.db.read(self._list_submodels, semantic_id, id_short, cursor, limit)

    async def get_submodel(self, submodel_id: str) -> bytes | None:
        return await self.db.read(self._get_submodel, submodel_id)

    async def get_submodel_value(self, submodel_id: str) -> bytes | None:
        return await self.db.read(self._get_submodel_value, submodel_id)

    def _list_submodels(self, semantic_id: str | None, id_short: str | None, cursor: str | None, limit: int
                        ) -> tuple[list[bytes], str | None]:
        kind, after, tie = read_cursor(cursor)
        out: list[bytes] = []
        if kind == "t":
            for index, sm in enumerate(self.type_level()[1]):
                wanted = semantic_id is None or semantic_id_of(sm.json) == semantic_id
                if index >= after and wanted and (id_short is None or sm.json.get("idShort") == id_short):
                    if len(out) == limit:
                        return out, page_cursor("t", index)
                    out.append(sm.raw)
            after, tie = 0, ""
        query: Select[Any] = _SUBMODEL_PAGE
        if semantic_id is not None:
            query = query.where(_S.c.semantic_id == semantic_id)
        if id_short is not None:
            query = query.where(_S.c.id_short == id_short)
        for row in self.db.fetch_all(query, {"after": after, "tie": tie, "n": limit - len(out) + 1}):
            if len(out) == limit:
                return out, page_cursor("i", row.first_seen, row.submodel_id)
            found = submodel_bytes(row.aas_json, row.spans, row.position)
            if found is not None:
                out.append(found)
        return out, None

    def _get_submodel(self, submodel_id: str) -> bytes | None:
        for sm in self.type_level()[1]:
            if sm.json["id"] == submodel_id:
                return sm.raw
        row = self.db.lookup(_SUBMODEL, {"id": submodel_id})
        return submodel_bytes(*row) if row else None

    def _get_submodel_value(self, submodel_id: str) -> bytes | None:
        template = self.type_level()[2].get(submodel_id)
        if template is not None:
            return template
        row = self.db.lookup(_VALUE, {"id": submodel_id})
        return value_bytes(*row) if row else None

    # -- files ------------------------------------------------------------------------------------
    async def open_file(self, value: str) -> tuple[bytes, str] | None:
        digest = referenced_digest(value)
        if digest is None:
            return None
        try:
            return await anyio.to_thread.run_sync(self.files.read, digest)
        except FileNotFound:
            return None

    async def may_hold_blobs(self) -> bool:
        """An instance holds the element kinds of its templates and no others (own records are rendered from them,
        received ones are checked against them), so a Blob can be stored only where a template names one."""
        templates = (self._types if self._types is not None else await self.db.read(self.type_level))[1]
        return any(b'"Blob"' in template.raw for template in templates)

    # -- type level -------------------------------------------------------------------------------
    def type_level(self) -> tuple[list[Kept], list[Kept], dict[str, bytes]]:
        """Type shells, templates and the templates' ValueOnly forms, read once: the asset types are registered
        before the gateway serves (``aadsys serve`` runs ``prepare`` first) and fixed while it runs."""
        if self._types is None:
            envs = [orjson.loads(row.type_environment) for row in self.db.fetch_all(_TYPES, {})]
            shells = [_kept(s) for env in envs for s in env["assetAdministrationShells"]]
            templates = [_kept(sm) for env in envs for sm in env.get("submodels", [])]
            values = {t.json["id"]: orjson.dumps(value_only(t.json)) for t in templates}
            self._types = (shells, templates, values)
        return self._types


def _kept(element: Json) -> Kept:
    return Kept(orjson.dumps(element), element)


def _matches(shell: Json, id_short: str | None, global_ids: list[str | None]) -> bool:
    if id_short is not None and shell.get("idShort") != id_short:
        return False
    return not global_ids or shell.get("assetInformation", {}).get("globalAssetId") in global_ids


def page_cursor(kind: str, value: int, tie: str = "") -> str:
    """Cursor = where the next page starts: a position in the type list, or an instance id plus a tie-breaker."""
    return base64url.encode_text(f"{kind}{value}:{tie}")


def read_cursor(cursor: str | None) -> tuple[str, int, str]:
    if not cursor:
        return ("t", 0, "")
    try:
        raw = base64url.decode(cursor).decode()
        head, _, tie = raw.partition(":")
        kind, value = head[0], int(head[1:])
    except (ValueError, IndexError, UnicodeDecodeError):
        raise InvalidCursor() from None
    if kind not in ("t", "i") or value < 0:
        raise InvalidCursor()
    return kind, value, tie

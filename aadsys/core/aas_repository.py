"""The store seen as an AAS repository: shells and submodels as AAS v3.0 JSON, for the Part 2 API.

The listing order is: the type shells (and their submodel templates) of the registered asset
types, then the latest revision of every instance in storage order. Cursors are opaque.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson
from sqlalchemy import or_
from sqlmodel import col, select

from aadsys.core.db import Database
from aadsys.core.errors import FileNotFound, InvalidCursor
from aadsys.core.files import FileStore
from aadsys.core.tables import AssetTypeRow, InstanceRow, SubmodelRow

_FILE_VALUE = re.compile(r"^/api/v1/files/([0-9a-f]{64})$")
Json = dict[str, Any]


class SqlAasRepository:
    def __init__(self, db: Database, files: FileStore) -> None:
        self.db = db
        self.files = files

    # -- shells -----------------------------------------------------------------------------------
    def list_shells(self, *, id_short: str | None, asset_ids: list[dict] | None, cursor: str | None, limit: int
                    ) -> tuple[list[Json], str | None]:
        position = _decode(cursor)
        global_ids = [a.get("value") for a in asset_ids or [] if a.get("name") == "globalAssetId"]
        if asset_ids and len(global_ids) != len(asset_ids):
            return [], None  # only globalAssetId is indexed here; other specific asset ids match nothing
        out: list[Json] = []
        if position[0] == "t":
            for index, shell in enumerate(self._type_shells()):
                if index < position[1]:
                    continue
                if _matches(shell, id_short, global_ids):
                    if len(out) == limit:
                        return out, _encode("t", index)
                    out.append(shell)
            position = ("i", 0, "")
        query = select(InstanceRow).where(col(InstanceRow.is_latest).is_(True), col(InstanceRow.id) >= position[1])
        if id_short is not None:
            query = query.where(InstanceRow.shell_id_short == id_short)
        if global_ids:
            query = query.where(col(InstanceRow.global_asset_id).in_(global_ids))
        with self.db.session() as session:
            rows = session.exec(query.order_by(col(InstanceRow.id)).limit(limit - len(out) + 1)).all()
        for row in rows:
            if len(out) == limit:
                return out, _encode("i", row.id or 0)
            out.append(_env(row.aas_json)["assetAdministrationShells"][0])
        return out, None

    def get_shell(self, aas_id: str) -> Json | None:
        for shell in self._type_shells():
            if shell["id"] == aas_id:
                return shell
        with self.db.session() as session:
            row = session.exec(select(InstanceRow).where(InstanceRow.shell_id == aas_id,
                                                         col(InstanceRow.is_latest).is_(True))).first()
        return _env(row.aas_json)["assetAdministrationShells"][0] if row else None

    # -- submodels --------------------------------------------------------------------------------
    def list_submodels(self, *, semantic_id: str | None, id_short: str | None, cursor: str | None, limit: int
                       ) -> tuple[list[Json], str | None]:
        position = _decode(cursor)
        out: list[Json] = []
        if position[0] == "t":
            for index, sm in enumerate(self._templates()):
                if index < position[1]:
                    continue
                wanted = semantic_id is None or _semantic(sm) == semantic_id
                if wanted and (id_short is None or sm.get("idShort") == id_short):
                    if len(out) == limit:
                        return out, _encode("t", index)
                    out.append(sm)
            position = ("i", 0, "")
        query = select(SubmodelRow).where(SubmodelRow.first_seen >= position[1])
        if position[2]:
            query = query.where(or_(col(SubmodelRow.first_seen) > position[1],
                                    col(SubmodelRow.submodel_id) >= position[2]))
        if semantic_id is not None:
            query = query.where(SubmodelRow.semantic_id == semantic_id)
        if id_short is not None:
            query = query.where(SubmodelRow.id_short == id_short)
        with self.db.session() as session:
            rows = session.exec(query.order_by(col(SubmodelRow.first_seen), col(SubmodelRow.submodel_id))
                                .limit(limit - len(out) + 1)).all()
            for row in rows:
                if len(out) == limit:
                    return out, _encode("i", row.first_seen, row.submodel_id)
                found = self._submodel_of_shell(session, row.shell_id, row.submodel_id)
                if found is not None:
                    out.append(found)
        return out, None

    def get_submodel(self, submodel_id: str) -> Json | None:
        for sm in self._templates():
            if sm["id"] == submodel_id:
                return sm
        with self.db.session() as session:
            row = session.get(SubmodelRow, submodel_id)
            return self._submodel_of_shell(session, row.shell_id, submodel_id) if row else None

    @staticmethod
    def _submodel_of_shell(session: Any, shell_id: str, submodel_id: str) -> Json | None:
        latest = session.exec(select(InstanceRow.aas_json).where(InstanceRow.shell_id == shell_id,
                                                                  col(InstanceRow.is_latest).is_(True))).first()
        if latest is None:
            return None
        return next((sm for sm in _env(latest)["submodels"] if sm["id"] == submodel_id), None)

    # -- files ------------------------------------------------------------------------------------
    def open_file(self, value: str) -> tuple[bytes, str] | None:
        match = _FILE_VALUE.match(value or "")
        if not match:
            return None
        try:
            return self.files.read(match.group(1))
        except FileNotFound:
            return None

    # -- type level -------------------------------------------------------------------------------
    def _type_envs(self) -> list[Json]:
        with self.db.session() as session:
            rows = session.exec(select(AssetTypeRow.type_environment).order_by(col(AssetTypeRow.slug))).all()
        return [_env(blob) for blob in rows]

    def _type_shells(self) -> list[Json]:
        return [shell for env in self._type_envs() for shell in env["assetAdministrationShells"]]

    def _templates(self) -> list[Json]:
        return [sm for env in self._type_envs() for sm in env.get("submodels", [])]


def _env(blob: bytes) -> Json:
    return orjson.loads(blob)  # type: ignore[no-any-return]


def _semantic(sm: Json) -> str | None:
    keys = (sm.get("semanticId") or {}).get("keys") or []
    return keys[0].get("value") if keys else None


def _matches(shell: Json, id_short: str | None, global_ids: list[str | None]) -> bool:
    if id_short is not None and shell.get("idShort") != id_short:
        return False
    return not global_ids or shell.get("assetInformation", {}).get("globalAssetId") in global_ids


def _encode(kind: str, value: int, tie: str = "") -> str:
    """Cursor = where the next page starts: a position in the type list, or an instance id plus a tie-breaker."""
    return base64.urlsafe_b64encode(f"{kind}{value}:{tie}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[str, int, str]:
    if not cursor:
        return ("t", 0, "")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        head, _, tie = raw.partition(":")
        kind, value = head[0], int(head[1:])
    except (ValueError, IndexError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor() from None
    if kind not in ("t", "i") or value < 0:
        raise InvalidCursor()
    return kind, value, tie

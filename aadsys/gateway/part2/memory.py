"""An AAS repository over one AAS JSON environment held in memory (tools, tests)."""

from __future__ import annotations

from typing import Any

import orjson

from aadsys.gateway.part2.paging import slice_page
from aas_models.serialization import Json, semantic_id_of, value_only


class InMemoryAasRepository:
    def __init__(self, environment: Json, files: dict[str, tuple[bytes, str]] | None = None) -> None:
        self.environment = environment
        self.files = files or {}

    async def list_shells(self, *, id_short: str | None, asset_ids: list[dict[str, Any]] | None, cursor: str | None,
                          limit: int) -> tuple[list[bytes], str | None]:
        shells = [s for s in self.environment.get("assetAdministrationShells", [])
                  if (id_short is None or s.get("idShort") == id_short) and _has_asset_ids(s, asset_ids or [])]
        page, after = slice_page(shells, limit, cursor)
        return [orjson.dumps(s) for s in page], after

    async def get_shell(self, aas_id: str) -> bytes | None:
        return _bytes(self._shell(aas_id))

    async def list_submodels(self, *, semantic_id: str | None, id_short: str | None, cursor: str | None, limit: int
                             ) -> tuple[list[bytes], str | None]:
        submodels = [s for s in self.environment.get("submodels", [])
                     if (id_short is None or s.get("idShort") == id_short)
                     and (semantic_id is None or semantic_id_of(s) == semantic_id)]
        page, after = slice_page(submodels, limit, cursor)
        return [orjson.dumps(s) for s in page], after

    async def get_submodel(self, submodel_id: str) -> bytes | None:
        return _bytes(self._submodel(submodel_id))

    async def get_submodel_value(self, submodel_id: str) -> bytes | None:
        found = self._submodel(submodel_id)
        return None if found is None else orjson.dumps(value_only(found))

    async def open_file(self, value: str) -> tuple[bytes, str] | None:
        return self.files.get(value)

    async def may_hold_blobs(self) -> bool:
        return True  # the environment may change under it: each submodel is searched

    def _shell(self, aas_id: str) -> Json | None:
        return next((s for s in self.environment.get("assetAdministrationShells", []) if s["id"] == aas_id), None)

    def _submodel(self, submodel_id: str) -> Json | None:
        return next((s for s in self.environment.get("submodels", []) if s["id"] == submodel_id), None)


def _bytes(found: Json | None) -> bytes | None:
    return None if found is None else orjson.dumps(found)


def _has_asset_ids(shell: Json, wanted: list[dict[str, Any]]) -> bool:
    info = shell.get("assetInformation") or {}
    have = {("globalAssetId", info.get("globalAssetId"))}
    have |= {(s.get("name"), s.get("value")) for s in info.get("specificAssetIds") or []}
    return all((w.get("name"), w.get("value")) in have for w in wanted)

"""Where the gateway serves files, and the one place that maps file digests to those URLs and back.

A stored record names a file by its content (``nih:sha-256;<hex>``, ``aas_models.file_reference``): the same name
at every AAdSys it reaches. A client sees ``/api/v1/files/<hex>``, the route that serves the file. So every AAS
body the gateway sends passes ``linked`` (``LinkedRepository`` does it for the Part 2 routes), and an AAS
environment a client sends passes ``unlinked`` before it is stored.
"""

from __future__ import annotations

import re
from typing import Any

from aadsys.core.aas_repository import SqlAasRepository
from aas_models import file_reference, map_file_references
from aas_models.serialization import Json, descendants

FILES_ROUTE = "/api/v1/files"
_LINK = re.compile(re.escape(FILES_ROUTE) + r"/([0-9a-f]{64})")


def file_link(sha256: str) -> str:
    return f"{FILES_ROUTE}/{sha256}"


def linked(aas_json: bytes) -> bytes:
    """Stored AAS JSON (or a part of it) as a client sees it: each file reference a download link."""
    return map_file_references(aas_json, file_link)


def unlinked(environment: Json) -> Json:
    """A client's AAS environment as it is stored: each File element that links to a file here names it by
    digest instead. Other values are left for the record's model to judge. Changes ``environment`` in place."""
    submodels = environment.get("submodels")
    for submodel in submodels if isinstance(submodels, list) else ():
        for element in descendants(submodel) if isinstance(submodel, dict) else ():
            if element.get("modelType") == "File" and isinstance(element.get("value"), str):
                match = _LINK.fullmatch(element["value"])
                if match:
                    element["value"] = file_reference(match.group(1))
    return environment


class LinkedRepository:
    """The store as the Part 2 routes serve it (``aadsys.gateway.part2.AasRepository``): the same bytes, with
    file references as links, and a File element's link opened as the file it names."""

    def __init__(self, store: SqlAasRepository) -> None:
        self.store = store

    async def list_shells(self, *, id_short: str | None, asset_ids: list[dict[str, Any]] | None, cursor: str | None,
                          limit: int) -> tuple[list[bytes], str | None]:
        items, after = await self.store.list_shells(id_short=id_short, asset_ids=asset_ids, cursor=cursor,
                                                    limit=limit)
        return [linked(item) for item in items], after

    async def get_shell(self, aas_id: str) -> bytes | None:
        return _linked(await self.store.get_shell(aas_id))

    async def list_submodels(self, *, semantic_id: str | None, id_short: str | None, cursor: str | None, limit: int
                             ) -> tuple[list[bytes], str | None]:
        items, after = await self.store.list_submodels(semantic_id=semantic_id, id_short=id_short, cursor=cursor,
                                                       limit=limit)
        return [linked(item) for item in items], after

    async def get_submodel(self, submodel_id: str) -> bytes | None:
        return _linked(await self.store.get_submodel(submodel_id))

    async def get_submodel_value(self, submodel_id: str) -> bytes | None:
        return _linked(await self.store.get_submodel_value(submodel_id))

    async def open_file(self, value: str) -> tuple[bytes, str] | None:
        match = _LINK.fullmatch(value)
        return await self.store.open_file(file_reference(match.group(1))) if match else None

    async def may_hold_blobs(self) -> bool:
        return await self.store.may_hold_blobs()


def _linked(aas_json: bytes | None) -> bytes | None:
    return None if aas_json is None else linked(aas_json)

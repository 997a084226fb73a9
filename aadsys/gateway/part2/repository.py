"""What the Part 2 routes need from a store: shells and submodels as AAS v3.0 JSON bytes, and file contents.

A store hands out bytes so that the common reads (a shell, a submodel, its ValueOnly form, a page of them) go
to the client as stored; the routes parse them (``Found.json``) only for the modifiers that need the object.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from aas_models.serialization import Json


class AasRepository(Protocol):
    async def list_shells(self, *, id_short: str | None, asset_ids: list[dict[str, Any]] | None, cursor: str | None,
                          limit: int) -> tuple[list[bytes], str | None]: ...

    async def get_shell(self, aas_id: str) -> bytes | None: ...

    async def list_submodels(self, *, semantic_id: str | None, id_short: str | None, cursor: str | None, limit: int
                             ) -> tuple[list[bytes], str | None]: ...

    async def get_submodel(self, submodel_id: str) -> bytes | None: ...

    async def get_submodel_value(self, submodel_id: str) -> bytes | None:
        """The submodel's ValueOnly form at level deep, extent withoutBlobValue (the defaults)."""
        ...

    async def open_file(self, value: str) -> tuple[bytes, str] | None:
        """The content and media type of a File element's ``value``, or None when it is not stored here."""
        ...

    async def may_hold_blobs(self) -> bool:
        """False when no submodel here can hold a Blob element: then a page needs no search for one."""
        ...


class Found:
    """A shell or submodel as the store returned it: its bytes, and the object, parsed on first use."""

    __slots__ = ("id", "raw", "_json")

    def __init__(self, identifier: str, raw: bytes) -> None:
        self.id, self.raw = identifier, raw
        self._json: Json | None = None

    @property
    def json(self) -> Json:
        if self._json is None:
            self._json = orjson.loads(self.raw)
        return self._json

    @property
    def may_hold_blobs(self) -> bool:
        """False when no Blob element can be inside: then extent withoutBlobValue changes nothing."""
        return b'"Blob"' in self.raw


class AasRegistry(Protocol):
    """What the registry and discovery routes need from a store: descriptors without endpoints (the routes add
    where this server serves each shell and submodel) and the asset ids that find a shell."""

    async def list_shell_descriptors(self, *, asset_kind: str | None, asset_type: str | None, cursor: str | None,
                                     limit: int) -> tuple[list[Json], str | None]: ...

    async def get_shell_descriptor(self, aas_id: str) -> Json | None: ...

    async def list_submodel_descriptors(self, *, cursor: str | None, limit: int) -> tuple[list[Json], str | None]: ...

    async def get_submodel_descriptor(self, submodel_id: str) -> Json | None: ...

    async def lookup_shells(self, *, asset_ids: list[dict[str, str]], cursor: str | None, limit: int
                            ) -> tuple[list[str], str | None]:
        """Ids of the shells that carry every one of ``asset_ids`` (``{"name", "value"}``; the name
        ``globalAssetId`` for the globalAssetId), paged."""
        ...

    async def get_asset_links(self, aas_id: str) -> list[dict[str, str]] | None:
        """The asset ids that find the shell, or None when it is not here."""
        ...

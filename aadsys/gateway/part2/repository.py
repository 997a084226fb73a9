"""What the Part 2 routes need from a store: shells and submodels as AAS v3.0 JSON, and file contents."""

from __future__ import annotations

from typing import Any, Protocol

Json = dict[str, Any]


class AasRepository(Protocol):
    def list_shells(self, *, id_short: str | None, asset_ids: list[dict[str, Any]] | None, cursor: str | None,
                    limit: int) -> tuple[list[Json], str | None]: ...

    def get_shell(self, aas_id: str) -> Json | None: ...

    def list_submodels(self, *, semantic_id: str | None, id_short: str | None, cursor: str | None, limit: int
                       ) -> tuple[list[Json], str | None]: ...

    def get_submodel(self, submodel_id: str) -> Json | None: ...

    def open_file(self, value: str) -> tuple[bytes, str] | None:
        """The content and media type of a File element's ``value``, or None when it is not stored here."""
        ...

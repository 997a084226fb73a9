"""Extensions: parts that plug into an AAdSys without ``aadsys`` importing them (DESIGN §2).

An extension is a Python entry point in the group ``aadsys.extensions`` (the way the Eclipse Dataspace
Connector loads its extensions), e.g. in ``pyproject.toml``::

    [project.entry-points."aadsys.extensions"]
    connector = "connector:ConnectorExtension"

``aadsys serve`` offers each one the app and the running AAdSys (``attach``); ``aadsys`` adds each one's
commands under its name (``aadsys connector …``), and migrates each one's tables (``migrations``: an alembic
branch of its own, as an EDC extension owns its schema) with the core's. An extension that does not apply to a
data directory (the connector without portal settings) returns ``None`` from ``attach`` and the AAdSys runs
without it.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

    from aadsys.gateway.context import AadsysContext

ENTRY_POINT_GROUP = "aadsys.extensions"


class Running(Protocol):
    """An attached extension's life: started after the app starts, stopped before it stops."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Extension(Protocol):
    name: str
    migrations: Path | None
    """The versions folder of the extension's own alembic branch (its tables), run beside the core's."""

    def attach(self, app: FastAPI, context: AadsysContext) -> Running | None:
        """Add routes or mounts to ``app``; None when the extension does not apply to this AAdSys."""

    def commands(self) -> typer.Typer | None:
        """Commands offered as ``aadsys <name> …``."""


@cache
def discover() -> tuple[Extension, ...]:
    """Every installed extension, ordered by name."""
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    return tuple(ep.load()() for ep in found)


def migration_branches() -> tuple[Path, ...]:
    """The versions folders of every installed extension's schema."""
    return tuple(ext.migrations for ext in discover() if ext.migrations is not None)

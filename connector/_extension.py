"""The connector as an AAdSys extension (entry point group ``aadsys.extensions``, see ``aadsys.extensions``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

    from aadsys.gateway.context import AadsysContext
    from connector._connector import Connector


class ConnectorExtension:
    name = "connector"
    migrations: Path | None = Path(__file__).resolve().parent / "migrations" / "versions"

    def attach(self, app: FastAPI, context: AadsysContext) -> Connector | None:
        """The connector runs when the AAdSys is a member of a portal (``portal_url`` set)."""
        if not context.settings.portal_url:
            return None
        from connector._connector import Connector

        connector = Connector(context)
        connector.mount(app)
        return connector

    def commands(self) -> typer.Typer:
        from connector.cli import app

        return app

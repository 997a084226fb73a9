"""The connector as an AAdSys extension (entry point group ``aadsys.extensions``, see ``aadsys.extensions``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

    from aadsys.gateway.context import AadsysContext
    from connector._connector import Connector


class ConnectorExtension:
    name = "connector"

    def attach(self, app: FastAPI, context: AadsysContext) -> Connector | None:
        """The connector runs when the AAdSys is a member of a portal (``portal_url`` set)."""
        if not context.settings.portal_url:
            return None
        import socketio

        from connector._connector import Connector
        from connector._wire import SOCKETIO_PATH

        connector = Connector(context)
        app.mount("/" + SOCKETIO_PATH, socketio.ASGIApp(connector.provider.sio, socketio_path=SOCKETIO_PATH))
        app.include_router(connector.router())
        return connector

    def commands(self) -> typer.Typer:
        from connector.cli import app

        return app

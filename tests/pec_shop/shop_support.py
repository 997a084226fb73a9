"""A real shop for tests: a migrated SQLite file in a tmp dir, the app on uvicorn on a loopback port.

Also images made with Pillow, a form poster using the contract's field names, and bounded waits.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import create_engine, text

from pec_shop.app import create_app
from pec_shop.config import Settings, load_settings
from pec_shop.db import migrate
from tests.support.live_server import live_server, loopback_client
from tests.support.prometheus import bearer, write_token

CLOSED_URL = "http://127.0.0.1:9"  # the discard port: nothing listens there, connections are refused at once
FAST_RETRY = {"retry_seconds": 0.1, "retry_max_seconds": 0.5, "poll_seconds": 0.5, "http_timeout_seconds": 5.0}


def make_settings(data_dir: Path, aadsys_url: str = CLOSED_URL, key: str = "aak_not_a_real_key",
                  **overrides: Any) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "aadsys-api-key").write_text(key + "\n")
    settings = load_settings(data_dir=data_dir, aadsys_url=aadsys_url, **{**FAST_RETRY, **overrides})
    migrate(settings.resolved_database_url)
    return settings


@dataclass
class LiveShop:
    url: str
    settings: Settings
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        client = loopback_client(base_url=self.url)
        self.clients.append(client)
        return client

    def place(self, **overrides: Any) -> httpx.Response:
        return post_order(self.client(), **overrides)

    def place_ok(self, **overrides: Any) -> str:
        """Place a valid order; its token."""
        response = self.place(**overrides)
        assert response.status_code == 303, response.text
        return response.headers["location"].removeprefix("/orders/")

    def order(self, token: str) -> dict[str, Any]:
        response = self.client().get(f"/api/orders/{token}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def metrics(self) -> str:
        """``GET /metrics`` with the metrics token (made on first use, as an operator would)."""
        token_file = self.settings.resolved_metrics_token_file
        token = token_file.read_text().strip() if token_file.exists() else write_token(token_file)
        response = self.client().get("/metrics", headers=bearer(token))
        assert response.status_code == 200, response.text
        return response.text

    def rows(self, table: str) -> int:
        return count_rows(self.settings.resolved_database_url, table)


@contextmanager
def running_shop(settings: Settings) -> Iterator[LiveShop]:
    with live_server(create_app(settings)) as url:
        shop = LiveShop(url, settings)
        try:
            yield shop
        finally:
            for client in shop.clients:
                client.close()


def count_rows(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def post_order(client: httpx.Client, *, image: tuple[str, bytes, str] | None = None, **overrides: Any
               ) -> httpx.Response:
    """POST /orders as the compose form does (multipart); ``overrides`` replace fields, ``None`` drops one."""
    fields: dict[str, Any] = {"customer_name": "Aina", "bottle_size_ml": "500", "ingredient": ["orange", "carrot"],
                              "ratio": ["60", "40"], "label_text": "Happy birthday", "quantity": "2"}
    fields.update(overrides)
    data = {k: v for k, v in fields.items() if v is not None}
    files = {"label_image": image} if image else {"label_image": ("", b"", "application/octet-stream")}
    return client.post("/orders", data=data, files=files)


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (64, 32), noise: bool = False) -> bytes:
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else \
        Image.new("RGB", size, (240, 120, 20))
    buffer = io.BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()

"""Fixtures of the OMIS line tests: the real app on a real uvicorn (loopback, ephemeral port), SQLite in tmp dirs.

Orders are handed to the ERP the way its event follower does (``erp.take_order``), so these tests need no AAdSys;
the AAdSys URL points at a closed port, and status revisions wait in the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlmodel import col, select

from aadsys.processes import wait_for
from omis_line.config import Settings
from omis_line.db import migrate
from omis_line.erp import FetchedLabel, take_order
from omis_line.models import StatusRevision
from omis_line.web.app import create_app
from omis_line.web.auth import hash_password
from omis_line.web.runtime import Runtime
from tests.support.live_server import live_server, loopback_client
from tests.support.postgres import free_port

PASSWORD = "bottles all the way"
LABEL = b"\x89PNG\r\n\x1a\n" + b"label pixels " * 40
T = TypeVar("T")


def sales_order(order_id: str, *, quantity: int = 2, size: int = 500, label: bytes | None = LABEL,
                ratios: tuple[tuple[str, str], ...] = (("orange", "0.6"), ("carrot", "0.4"))) -> str:
    """Sales Order business JSON as the AAdSys serves it (ratios spelled as JSON decimals)."""
    ingredients = ", ".join(f'{{"ingredient": "{name}", "ratio": {ratio}}}' for name, ratio in ratios)
    image = (f', "labelImage": {{"sha256": "{hashlib.sha256(label).hexdigest()}", "contentType": "image/png"}}'
             if label is not None else "")
    return (f'{{"orderId": "{order_id}", "orderDate": "2026-11-22T10:15:00Z", "customer": {{"id": "C-77", '
            f'"displayName": "Aina"}}, "channel": "web", "currency": "MYR", "items": [{{"product": "custom-juice", '
            f'"bottleSizeMl": {size}, "quantity": {quantity}, "unitPrice": "12.90", "ingredients": [{ingredients}], '
            f'"labelText": "Happy birthday"{image}}}], "total": "{12.90 * quantity:.2f}", '
            f'"requestedDate": "2026-11-25"}}')


class RunningLine:
    """A serving line: ``url``, an operator ``client``, and ways to feed it orders and read its outbox."""

    def __init__(self, url: str, runtime: Runtime) -> None:
        self.url = url
        self.runtime = runtime
        self.client = loopback_client(base_url=url, auth=("operator", PASSWORD), timeout=10)

    def take(self, raw: str, label: bytes | None = LABEL) -> None:
        labels = {}
        if label is not None:
            sha = hashlib.sha256(label).hexdigest()
            labels[sha] = FetchedLabel(sha, "image/png", label)
        with self.runtime.database.session() as session:
            take_order(session, raw, labels)
        self.runtime.nudge()

    def halt(self) -> None:
        """Stops the line's work at once, as a killed process would, without waiting for the server's shutdown."""
        loop = self.runtime.tasks[0].get_loop()
        asyncio.run_coroutine_threadsafe(self.runtime.stop(), loop).result(timeout=10)

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_state(self, order_id: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            order = self.order(order_id)
            return order if order["state"] in states else None

        found = wait_for(reached, f"{order_id} to become {' or '.join(states)}", timeout=timeout)
        assert found is not None
        return found

    def trace(self, order_id: str) -> list[dict[str, Any]]:
        response = self.client.get("/api/trace", params={"order": order_id})
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    def revisions(self, order_id: str) -> list[dict[str, Any]]:
        with self.runtime.database.session() as session:
            rows = session.exec(select(StatusRevision).where(StatusRevision.order_id == order_id)
                                .order_by(col(StatusRevision.id))).all()
            return [json.loads(r.payload) for r in rows]


LineFactory = Callable[..., Any]


@pytest.fixture
def line_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings of a line in ``tmp_path`` whose AAdSys is a closed port; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        data_dir = tmp_path / "line"
        data_dir.mkdir(exist_ok=True)
        (data_dir / "aadsys-api-key").write_text("aak_test\n")
        hash_file = data_dir / "operator-password.argon2"
        if not hash_file.exists():
            hash_file.write_text(hash_password(PASSWORD))
        values: dict[str, Any] = {"data_dir": data_dir, "aadsys_url": f"http://127.0.0.1:{free_port()}",
                                  "station_seconds": "0.005,0.01", "failure_probability": 0.0, "seed": 7,
                                  "retry_max_seconds": 0.5}
        values.update(overrides)
        settings = Settings(**values)
        migrate(settings.resolved_database_url)
        return settings

    return make


@pytest.fixture
def running_line(line_settings: Callable[..., Settings]) -> Iterator[Callable[..., Any]]:
    """Context manager factory: ``with running_line(**settings) as line:`` serves a line until the block ends."""

    @contextmanager
    def run(settings: Settings | None = None, **overrides: Any) -> Iterator[RunningLine]:
        settings = settings or line_settings(**overrides)
        app = create_app(settings)
        with live_server(app) as url:
            line = RunningLine(url, app.state.runtime)
            try:
                yield line
            finally:
                line.client.close()

    yield run

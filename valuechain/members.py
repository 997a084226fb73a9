"""Drivers for the two company systems that sit beside the AAdSys: PEC's e-shop and OMIS's line.

Like the portal and AAdSys drivers (``aadsys.processes``), each is a process started from its own command line
and driven over HTTP only, as a customer's browser or an operator would.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from aadsys.processes import ProcessError, RunTls, ServerProcess


def _write_secret(path: Path, secret: str) -> Path:
    path.write_text(secret)
    path.chmod(0o600)
    return path


class Shop(ServerProcess):
    """PEC's e-shop (``pec_shop``): customers compose juices and watch their orders; it posts to PEC's AAdSys."""

    module = "pec_shop"
    settings_prefix = "PEC_SHOP_"

    def __init__(self, data_dir: Path, port: int | None = None, env: Mapping[str, str] | None = None,
                 tls: RunTls | None = None) -> None:
        super().__init__(data_dir, port=port, env=env, name="shop", tls=tls)

    def init(self, aadsys_url: str, api_key: str, partner: str) -> None:
        """``pec_shop init``: ``api_key`` is a write key of PEC's AAdSys; ``partner`` whose status it takes."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key_file = _write_secret(self.data_dir.parent / "shop-api-key.txt", api_key)
        try:
            self.cli_result("init", "--aadsys-url", aadsys_url, "--api-key-file", str(key_file), "--partner", partner)
        finally:
            key_file.unlink()

    def place(self, form: dict[str, Any], image: tuple[str, bytes, str] | None) -> str:
        """A customer's checkout: the order form as the browser posts it; returns the order page's path."""
        files = {"label_image": image} if image else None
        with self.http(timeout=30) as client:
            answer = client.post("/orders", data=form, files=files)
        if answer.status_code != 303:
            raise ProcessError(f"the shop refused an order: {answer.status_code} {answer.text[:600]}")
        return answer.headers["location"]

    def order(self, page: str) -> dict[str, Any]:
        """What the customer's order page shows, as JSON (``/orders/{token}`` → ``/api/orders/{token}``)."""
        with self.http(timeout=30) as client:
            return dict(client.get("/api" + page).raise_for_status().json())


class Line(ServerProcess):
    """OMIS's ERP, MES and six-station line (``omis_line``); only its operator may look inside."""

    module = "omis_line"
    settings_prefix = "OMIS_LINE_"

    def __init__(self, data_dir: Path, password: str, port: int | None = None,
                 env: Mapping[str, str] | None = None, tls: RunTls | None = None) -> None:
        super().__init__(data_dir, port=port, env=env, name="line", tls=tls)
        self.password = password

    def init(self, aadsys_url: str, api_key: str, partner: str) -> None:
        """``omis_line init``: ``api_key`` is a write key of OMIS's AAdSys; ``partner`` whose orders it takes."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key_file = _write_secret(self.data_dir.parent / "line-api-key.txt", api_key)
        password_file = _write_secret(self.data_dir.parent / "line-password.txt", self.password)
        try:
            self.cli_result("init", "--aadsys-url", aadsys_url, "--api-key-file", str(key_file),
                            "--operator-password-file", str(password_file), "--partner", partner)
        finally:
            key_file.unlink()
            password_file.unlink()

    def api(self) -> httpx.Client:
        return self.http(auth=("operator", self.password), timeout=30)

    def order(self, order_id: str) -> dict[str, Any] | None:
        with self.api() as api:
            found = api.get(f"/api/orders/{order_id}")
        return dict(found.json()) if found.status_code == 200 else None

    def oee(self, since: str | None = None) -> dict[str, Any]:
        """Availability, performance, quality and OEE from ``since`` (ISO time; default: the last 15 minutes)."""
        with self.api() as api:
            return dict(api.get("/api/oee", params={"from": since} if since else None).raise_for_status().json())

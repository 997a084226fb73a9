"""Drivers for the processes of ``make demo``: the ABM Portal and the enterprises' AAdSys, each run as its own
process and driven only through its command line and its HTTP API, as operators and partners would.

This module imports nothing of ``abm_portal`` or ``connector`` (DESIGN §2): the portal is a separate
deployment, and the connector runs inside ``aadsys serve`` as an extension.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from aadsys.tls import client_context

T = TypeVar("T")
START_SECONDS = 60.0
QUICK = {"AADSYS_CONNECTOR_POLL_SECONDS": "1"}  # connectors look at the portal every second, not every five


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def proc_status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM`` …)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"no {field} in /proc/{pid}/status")


def _exited(process: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def local_url(port: int, tls: DemoTls | None) -> str:
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}"


@dataclass(frozen=True)
class DemoTls:
    """TLS for every process of a run (``make demo ARGS=--tls``): one certificate for loopback, made by ``aadsys
    certs`` with a development CA that every process, and every client of the driver, trusts through
    ``tls_ca_file``."""

    cert_file: Path
    key_file: Path
    ca_file: Path

    @classmethod
    def make(cls, directory: Path) -> DemoTls:
        run_cli("aadsys", "certs", "--out", str(directory), "--host", "127.0.0.1", "--host", "localhost", "--name",
                "loopback")
        return cls(directory / "loopback.pem", directory / "loopback-key.pem", directory / "ca.pem")

    def env(self, prefix: str, *, client: bool = True) -> dict[str, str]:
        """The settings (``<prefix>TLS_CERT`` …) that make a process serve TLS and, when it is a ``client`` of
        another, trust the CA."""
        chosen = {f"{prefix}TLS_CERT": str(self.cert_file), f"{prefix}TLS_KEY": str(self.key_file)}
        return {**chosen, f"{prefix}TLS_CA_FILE": str(self.ca_file)} if client else chosen


class DemoError(SystemExit):
    """A step of the demo failed; the message says which and shows the process's own words."""


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60.0, interval: float = 0.2) -> T:
    """``check()``'s first truthy answer within ``timeout`` seconds; ``DemoError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            answer = check()
        except httpx.TransportError as exc:  # not up yet: an exception is no answer (though it is truthy)
            last = exc
        else:
            if answer:
                return answer
            last = answer
        time.sleep(interval)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what} (last seen: {last!r})")


@dataclass
class Process:
    """A server started from one of our command lines, logging to a file in its data directory."""

    name: str
    data_dir: Path
    url: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    tls: DemoTls | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **self.env}, start_new_session=True)
        log.close()
        wait_for(self._healthy, f"{self.name} to answer on {self.url}", START_SECONDS)

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise DemoError(f"{self.name} stopped (exit {self.process.returncode}):\n{self.log_tail()}")
        with self.http(timeout=2) as client:
            return client.get("/healthz").status_code == 200

    def http(self, **options: Any) -> httpx.Client:
        """A client of this process that verifies its certificate (against the run's CA, or the system's store)."""
        return httpx.Client(base_url=self.url, verify=client_context(self.tls.ca_file if self.tls else None),
                            **options)

    def stop(self, grace: float = 3.0, timeout: float = 15.0) -> None:
        """SIGTERM; if still stopping after ``grace`` s, SIGINT (uvicorn's force quit); after ``timeout``, SIGKILL.

        What holds uvicorn up is a followed event stream: ``/api/v1/events`` notices that its client went away
        only when its next keep-alive ping (every 15 s) fails to send, and a graceful shutdown waits for it.
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        if not _exited(process, grace):
            process.send_signal(signal.SIGINT)
            if not _exited(process, timeout):
                process.kill()
                process.wait(timeout=timeout)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def run_cli(module: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 120.0) -> str:
    """Run ``python -m <module> args``; returns its stdout (the last line is the command's result)."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, input=stdin,
                          timeout=timeout, check=False, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise DemoError(f"{module} {' '.join(args)} failed (exit {done.returncode}):\n{done.stderr or done.stdout}")
    return done.stdout


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@dataclass
class Organisation:
    """An organisation registered at the portal, as its people and its connector know it."""

    name: str
    org_id: str
    client_id: str
    client_secret: str
    admin_email: str
    admin_token: str


class Portal(Process):
    """The ABM Portal: ``abm-portal init``, ``org create``, ``token create``, ``serve``."""

    def __init__(self, data_dir: Path, port: int, env: dict[str, str] | None = None, tls: DemoTls | None = None
                 ) -> None:
        url = local_url(port, tls)
        super().__init__("portal", data_dir, url, [sys.executable, "-m", "abm_portal", "serve", "--data-dir",
                                                   str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                         {"ABM_PORTAL_PUBLIC_URL": url, **(tls.env("ABM_PORTAL_", client=False) if tls else {}),
                          **(env or {})}, tls=tls)

    def cli(self, *args: str) -> str:
        return run_cli("abm_portal", *args, "--data-dir", str(self.data_dir), env=self.env)

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli("init")

    def register(self, name: str, admin_email: str, password: str) -> Organisation:
        password_file = self.data_dir / f"{name.lower()}-password.txt"
        password_file.write_text(password)
        made = json.loads(last_line(self.cli("org", "create", name, "--admin-email", admin_email,
                                             "--admin-password-file", str(password_file))))
        password_file.unlink()
        token = last_line(self.cli("token", "create", "--user", admin_email))
        return Organisation(name, made["org_id"], made["client_id"], made["client_secret"], admin_email, token)

    def api(self, token: str) -> httpx.Client:
        return self.http(headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def decide(self, subscription_id: str, admin: Organisation, action: str = "approve",
               **body: Any) -> dict[str, Any]:
        """An organisation administrator's decision over the REST API (approve, reject, revoke)."""
        with self.api(admin.admin_token) as api:
            response = api.post(f"/api/v1/subscriptions/{subscription_id}/{action}", json=body or None)
        if response.status_code != 200:
            raise DemoError(f"{action} refused: {response.status_code} {response.text}")
        return dict(response.json())


class Member(Process):
    """One enterprise's AAdSys (gateway, core and connector): ``aadsys init``, ``keys create``, ``serve``."""

    def __init__(self, name: str, data_dir: Path, port: int, *, org: str, base_iri: str,
                 database_url: str | None = None, public_url: str | None = None,
                 env: dict[str, str] | None = None, tls: DemoTls | None = None) -> None:
        super().__init__(name, data_dir, local_url(port, tls),
                         [sys.executable, "-m", "aadsys", "serve", "--data-dir", str(data_dir), "--host",
                          "127.0.0.1", "--port", str(port)], {**(tls.env("AADSYS_") if tls else {}), **(env or {})},
                         tls=tls)
        self.org, self.base_iri, self.database_url = org, base_iri, database_url
        self.public_url = public_url or self.url
        self.key = ""

    def cli(self, *args: str, timeout: float = 120.0) -> str:
        return run_cli("aadsys", *args, "--data-dir", str(self.data_dir), env=self.env, timeout=timeout)

    def init(self, portal: Portal, organisation: Organisation) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret_file = self.data_dir.parent / f"{self.name}-client-secret.txt"
        secret_file.write_text(organisation.client_secret)
        extra = ["--database-url", self.database_url] if self.database_url else []
        self.cli("init", "--org", self.org, "--base-iri", self.base_iri, "--portal-url", portal.url, "--client-id",
                 organisation.client_id, "--client-secret-file", str(secret_file), "--public-url", self.public_url,
                 *extra)
        secret_file.unlink()
        self.key = last_line(self.cli("keys", "create", "--name", "erp", "--scope", "write"))

    def api(self) -> httpx.Client:
        return self.http(headers={"X-API-Key": self.key}, timeout=60)

    def connector(self, *args: str) -> str:
        return self.cli("connector", *args)

    def connector_json(self, *args: str) -> Any:
        return json.loads(last_line(self.connector(*args, "--json")))

    def find_asset(self, asset_type: str, publisher: str) -> dict[str, Any]:
        """The partner's published asset, once its connector has published it."""
        def published() -> dict[str, Any] | None:
            return next((a for a in self.connector_json("catalog") if a["assetType"] == asset_type
                         and a["orgName"] == publisher), None)
        return wait_for(published, f"{publisher} to publish {asset_type}")

    def request(self, asset_id: str, mode: str = "realtime", *extra: str) -> str:
        return last_line(self.connector("request", "--asset", asset_id, "--mode", mode, *extra))

    def received(self, asset_type: str, provider: str) -> list[dict[str, Any]]:
        """Every record of ``asset_type`` received from ``provider``, oldest first, through the business API."""
        items: list[dict[str, Any]] = []
        cursor = None
        with self.api() as api:
            while True:
                params: dict[str, str | int] = {"provider": provider, "limit": 500}
                if cursor:
                    params["cursor"] = cursor
                page = api.get(f"/api/v1/asset-types/{asset_type}/instances", params=params).raise_for_status()
                items += page.json()["items"]
                cursor = page.json()["nextCursor"]
                if not cursor:
                    return items

    def peak_rss_bytes(self) -> int:
        """The process's peak resident set (VmHWM), read while it runs."""
        return proc_status_kb(self.pid, "VmHWM") * 1024

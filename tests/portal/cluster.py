"""One portal as several real ``abm-portal serve`` processes on one PostgreSQL database, behind nginx.

Each worker has a data directory of its own, as a worker on another host would: what they share (the schema,
the signing keys, the session key, the throttling counts, the sweep's work) they share through the database.
The key-encryption key is handed to each in its environment (``ABM_PORTAL_KEK``), as operators hand it to
every host. nginx runs ``deploy/nginx/abm-portal.conf`` with TLS and connects to the workers from 127.0.0.2,
the one address the workers trust for ``X-Forwarded-For``; the tests' direct clients come from 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from abm_portal.config import Settings
from abm_portal.db import Database
from tests.portal.conftest import LivePortal
from tests.support.live_server import loopback_get
from tests.support.nginx import RunningNginx, start_nginx
from tests.support.postgres import PostgresServer, free_port

PROXY_ADDRESS = "127.0.0.2"
START_TIMEOUT = 90.0  # four interpreters start at once; on a busy 2-core machine that takes a while


@dataclass
class Worker:
    """One ``abm-portal serve`` process (a host of the portal, as far as the others can tell)."""

    port: int
    data_dir: Path
    environment: dict[str, str]
    processes: int = 1  # uvicorn's --workers: more than one leaves uvicorn's processes behind a SIGKILL
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.data_dir / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "abm_portal", "serve", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.processes)], env=self.environment, stdout=log,
            stderr=subprocess.STDOUT)

    def log(self) -> str:
        path = self.data_dir / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_ready(self, deadline: float) -> None:
        """Until ``/readyz`` answers 200 (bounded by ``deadline``, ``time.monotonic()``)."""
        while True:
            assert self.process is not None and self.process.poll() is None, f"worker died:\n{self.log()}"
            try:
                if loopback_get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"worker on {self.port} not ready in time:\n{self.log()}"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class PortalCluster:
    database_url: str
    settings: Settings  # what the workers run with (for services called in the test process)
    workers: list[Worker]
    proxy: RunningNginx
    ca_file: Path
    databases: list[Database] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.proxy.url

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, token: str | None = None, *, source: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Client:
        """A client of the proxy (https), from the loopback address ``source`` if given."""
        sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        transport = httpx.HTTPTransport(verify=self.tls(), local_address=source) if source else None
        return httpx.Client(base_url=self.url, headers=sent, timeout=30, verify=self.tls(), transport=transport)

    def database(self) -> Database:
        found = Database(self.database_url)
        self.databases.append(found)
        return found

    def portal(self) -> LivePortal:
        """The portal as the other portal tests know it: to register organisations through the services."""
        return LivePortal(self.url, self.settings, self.database())


@contextmanager
def portal_cluster(root: Path, postgres: PostgresServer, processes: tuple[int, ...] = (1, 2),
                   **settings: str) -> Iterator[PortalCluster]:
    """One ``abm-portal serve`` per item of ``processes`` (with that many uvicorn workers), started at the same
    moment on one fresh PostgreSQL database (so they race to migrate it and make the first keys), nginx in front;
    ``settings`` are ``ABM_PORTAL_*`` values by name."""
    url = postgres.create_database("cluster")
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    ports = [free_port() for _ in processes]
    proxy, certificate = start_nginx(root / "nginx", "abm-portal.conf", "abm_portal",
                                     [f"127.0.0.1:{port}" for port in ports], proxy_bind=PROXY_ADDRESS)
    values = {"database_url": url, "kek": kek, "public_url": proxy.url, "forwarded_allow_ips": PROXY_ADDRESS,
              **settings}
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("ABM_PORTAL_")},
                   **{f"ABM_PORTAL_{name.upper()}": value for name, value in values.items()}}
    started = [Worker(port, root / f"worker-{i}", environment, count)
               for i, (port, count) in enumerate(zip(ports, processes, strict=True))]
    cluster = PortalCluster(url, Settings(data_dir=root / "settings", **values),  # type: ignore[arg-type]
                            started, proxy, certificate.ca)
    try:
        for worker in started:
            worker.data_dir.mkdir(parents=True)
            worker.start()
        deadline = time.monotonic() + START_TIMEOUT
        for worker in started:
            worker.wait_ready(deadline)
        yield cluster
    finally:
        proxy.stop()
        for worker in started:
            worker.stop()
        for database in cluster.databases:
            database.dispose()

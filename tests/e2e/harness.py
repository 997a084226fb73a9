"""Whole-system test harness: a real ABM Portal and real AAdSys processes on loopback.

Every process is driven the way an operator and an ERP would drive it: through its command line
(``python -m abm_portal …``, ``python -m aadsys …``) and its HTTP API. Nothing of ``abm_portal`` or
``connector`` is imported here (DESIGN §2), so these tests see the system from outside and keep working
whatever the packages do inside.

Every wait is bounded. A process that fails to start or answer raises :class:`HarnessError` with the tail
of its log, so a red test says why without anyone rerunning it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol, TypeVar

import httpx

from aadsys.samples import sales_order
from tests.support.postgres import free_port

LOOPBACK = "127.0.0.1"
CLI_TIMEOUT = 120.0  # one CLI run (imports alone take seconds)
READY_TIMEOUT = 30.0  # from spawn to a healthy /healthz
STOP_TIMEOUT = 10.0  # SIGTERM grace before SIGKILL
HTTP_TIMEOUT = 30.0
LOG_TAIL_LINES = 40
# Settings a developer's shell may hold would silently override the data dir's own (env beats the TOML file).
SCRUBBED_ENV_PREFIXES = ("AADSYS_", "ABM_PORTAL_")

T = TypeVar("T")


class HarnessError(RuntimeError):
    """A process of the system under test did not do what the harness asked (start, answer, run a command)."""


@dataclass(frozen=True)
class OrgCredentials:
    """What ``abm-portal org create`` and ``token create`` hand an organisation."""

    org_id: str
    client_id: str
    client_secret: str
    admin_email: str
    admin_token: str


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: ours without AADSYS_*/ABM_PORTAL_*, unbuffered output, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"  # so a log tail shows the last words of a process that died
    env.update(extra or {})
    return env


def http_client(base_url: str, headers: Mapping[str, str] | None = None) -> httpx.Client:
    """A loopback client; ``trust_env=False`` so an HTTP(S)_PROXY in the environment cannot intercept 127.0.0.1."""
    return httpx.Client(base_url=base_url, headers=dict(headers or {}), timeout=HTTP_TIMEOUT, trust_env=False)


class ServerProcess:
    """One serving child process (``python -m <module> serve``) with its data dir, port and log file.

    The port is kept across restarts, because partners (and the portal) know a process by its URL.
    """

    module: ClassVar[str]

    def __init__(self, data_dir: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = child_env(env)
        self.port: int | None = None
        self.log_path = data_dir / "serve.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.data_dir.name} port={self.port} pid={self.pid}>"

    @property
    def url(self) -> str:
        if self.port is None:
            raise HarnessError(f"{self!r} has not been started, so it has no URL yet")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m <module> <args> --data-dir D`` with this process's environment; never raises on failure."""
        return subprocess.run([sys.executable, "-m", self.module, *args, "--data-dir", str(self.data_dir)],
                              env=self.env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)

    def cli_result(self, *args: str) -> str:
        """Run a command whose result is its last stdout line (ids, keys, tokens are printed that way)."""
        done = self.cli(*args)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise HarnessError(f"`{self.module} {' '.join(args)}` exited {done.returncode}:\n"
                               f"{_tail(done.stderr or done.stdout)}")
        return lines[-1]

    def start(self, port: int | None = None, *, wait: bool = True) -> None:
        """Spawn ``serve`` on ``port`` (else the previous port, else a free one); with ``wait``, until healthy.

        ``wait=False`` lets a test start several processes and pay their start-up time once.
        """
        if self.running:
            raise HarnessError(f"{self!r} is running already")
        self.port = port or self.port or free_port()
        _assert_port_free(self.port)  # else /healthz of whoever holds it would pass for ours
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"\n--- harness: serve on {LOOPBACK}:{self.port} ---\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--data-dir", str(self.data_dir),
             "--host", LOOPBACK, "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll ``/healthz`` until it answers 200; fail early, with the log tail, if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = None if self._process is None else self._process.returncode
                raise HarnessError(f"{self!r} exited ({code}) before it was ready:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=1.0, trust_env=False)
                if self._healthy(response):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise HarnessError(f"{self!r} did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def _healthy(self, response: httpx.Response) -> bool:
        return response.status_code == 200

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT. Safe to call on a stopped, killed or never started process."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=STOP_TIMEOUT)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown hooks, no flushing."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=STOP_TIMEOUT)
        self._close_log()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP for the duration, then SIGCONT: the process hangs with its sockets open, as a stuck one would."""
        if not self.running or self._process is None:
            raise HarnessError(f"{self!r} is not running, so it cannot be paused")
        self._process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop (if still running) and start again on the same port, until healthy."""
        self.stop()
        self.start(self.port)

    def peak_rss_bytes(self) -> int:
        """Peak resident memory so far (``VmHWM`` of ``/proc/<pid>/status``); the process must still run."""
        if not self.running or self.pid is None:
            raise HarnessError(f"{self!r} is not running; its peak RSS is gone with it")
        return proc_status_bytes(self.pid, "VmHWM")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            return _tail(self.log_path.read_text(errors="replace"), lines)
        except FileNotFoundError:
            return f"(no log at {self.log_path})"

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class PortalProcess(ServerProcess):
    """The ABM Portal with its own SQLite database; organisations are registered through its CLI."""

    module = "abm_portal"
    ADMIN_PASSWORD = "e2e juice all the way down"  # for every org admin, e.g. for a browser login

    def __init__(self, data_dir: Path, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(data_dir, env=env)
        self.orgs: dict[str, OrgCredentials] = {}  # by name, as registered

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli_result("init")

    def register(self, name: str, admin_email: str | None = None) -> OrgCredentials:
        """``org create`` plus a personal token for its admin. Works before and after ``start``."""
        email = admin_email or f"admin@{name.lower()}.example"
        password_file = self.data_dir / f"password-{name.lower()}.txt"
        password_file.write_text(self.ADMIN_PASSWORD + "\n")
        created = json.loads(self.cli_result("org", "create", name, "--admin-email", email,
                                             "--admin-password-file", str(password_file)))
        token = self.cli_result("token", "create", "--user", email)
        self.orgs[name] = OrgCredentials(org_id=created["org_id"], client_id=created["client_id"],
                                         client_secret=created["client_secret"], admin_email=email, admin_token=token)
        return self.orgs[name]

    def api(self, token: str) -> httpx.Client:
        """A client of the portal REST API acting with ``token`` (personal or connector access token)."""
        return http_client(self.url, {"Authorization": f"Bearer {token}"})

    def connector_token(self, org: OrgCredentials) -> str:
        """An access token through the OAuth2 client-credentials grant (RFC 6749 §4.4), as a connector gets one."""
        with http_client(self.url) as client:
            response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                   auth=(org.client_id, org.client_secret))
        return str(_ok(response, "client-credentials token")["access_token"])

    def approve(self, subscription_id: str, admin_token: str) -> dict[str, Any]:
        """Decide as the provider's administrator (a personal token), as a person in the web UI would."""
        with self.api(admin_token) as client:
            return _ok(client.post(f"/api/v1/subscriptions/{subscription_id}/approve"), "approval")

    def revoke(self, subscription_id: str, admin_token: str, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason} if reason else None
        with self.api(admin_token) as client:
            return _ok(client.post(f"/api/v1/subscriptions/{subscription_id}/revoke", json=body), "revocation")


@contextmanager
def running_portal(data_dir: Path, organisations: Iterable[str] = ("PEC", "OMIS")) -> Iterator[PortalProcess]:
    """A serving portal with ``organisations`` registered (``portal.orgs[name]``); stopped on exit, always.

    The portal starts while the organisations register (the CLI writes the database directly), because
    each command spends seconds importing; that overlap is most of the speed there is to gain.
    """
    portal = PortalProcess(data_dir)
    try:
        portal.init()
        portal.start(wait=False)
        names = list(organisations)
        with ThreadPoolExecutor(max(1, len(names))) as pool:
            list(pool.map(portal.register, names))
        portal.wait_ready()
        yield portal
    finally:
        portal.stop()


class AadsysProcess(ServerProcess):
    """One enterprise's AAdSys (gateway, core and, with portal settings, connector in one process)."""

    module = "aadsys"

    def __init__(self, data_dir: Path, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(data_dir, env=env)
        self.org: str | None = None
        self.write_key: str | None = None

    def init(self, org: str, base_iri: str, *, portal_url: str | None = None,
             credentials: OrgCredentials | None = None, database_url: str | None = None,
             public_url: str | None = None) -> None:
        """``aadsys init``; with ``portal_url`` and ``credentials`` the AAdSys is a portal member.

        The secret goes through a file (``--client-secret-file``), as an operator passes it; ``init`` keeps
        its own copy in the data dir, so ours is removed afterwards.
        """
        if (portal_url is None) != (credentials is None):
            raise ValueError("portal_url and credentials go together")
        args = ["init", "--org", org, "--base-iri", base_iri]
        if database_url:
            args += ["--database-url", database_url]
        if public_url:
            args += ["--public-url", public_url]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret_file = self.data_dir / "client-secret.given"
        if portal_url and credentials:
            secret_file.write_text(credentials.client_secret + "\n")
            args += ["--portal-url", portal_url, "--client-id", credentials.client_id,
                     "--client-secret-file", str(secret_file)]
        try:
            self.cli_result(*args)
        finally:
            secret_file.unlink(missing_ok=True)
        self.org = org

    def create_key(self, name: str = "erp", scope: str = "write") -> str:
        """A new API key; the first write key becomes the one ``api()`` uses."""
        key = self.cli_result("keys", "create", "--name", name, "--scope", scope)
        if scope == "write" and self.write_key is None:
            self.write_key = key
        return key

    def api(self, key: str | None = None) -> httpx.Client:
        """A business-API client with ``key`` (default: the write key from ``create_key``)."""
        key = key or self.write_key
        if key is None:
            raise HarnessError(f"{self!r} has no API key yet: call create_key() first")
        return http_client(self.url, {"X-API-Key": key})

    def _healthy(self, response: httpx.Response) -> bool:
        return response.status_code == 200 and response.json().get("status") == "ok"


class AadsysFactory(Protocol):
    """The ``aadsys_factory`` fixture: an initialised, not yet started AAdSys in ``<e2e_dir>/<name>``.

    With ``credentials`` it is a member of the ``portal`` fixture's portal (its connector runs).
    """

    def __call__(self, name: str, org: str, base_iri: str, credentials: OrgCredentials | None,
                 database_url: str | None = None, env: Mapping[str, str] | None = None,
                 public_url: str | None = None) -> AadsysProcess: ...


def post_orders(aadsys: AadsysProcess, n: int, *, prefix: str, size: int | None = None) -> list[str]:
    """Post ``n`` distinct Sales Orders (business JSON, about ``size`` bytes each) and return their order ids."""
    ids = [f"{prefix}-{i:05d}" for i in range(n)]
    with aadsys.api() as client:
        for order_id in ids:
            body = sales_order(order_id) if size is None else sales_order(order_id, target_bytes=size)
            response = client.post("/api/v1/asset-types/sales-order/instances", json=body)
            if response.status_code != 201:
                raise HarnessError(f"posting {order_id} to {aadsys!r}: {response.status_code} {response.text}")
    return ids


def list_instances(aadsys: AadsysProcess, asset_type: str, *, provider: str | None = None) -> list[dict[str, Any]]:
    """Every instance of ``asset_type``, oldest first: own ones, or with ``provider`` those received from it."""
    params: dict[str, str | int] = {"limit": 500}
    if provider is not None:
        params["provider"] = provider
    items: list[dict[str, Any]] = []
    seen_cursors: set[str] = set()
    with aadsys.api() as client:
        while True:
            page = _ok(client.get(f"/api/v1/asset-types/{asset_type}/instances", params=params), "instance list")
            items += page["items"]
            cursor = page.get("nextCursor")
            if not cursor:
                return items
            if cursor in seen_cursors:
                raise HarnessError(f"{aadsys!r} returned cursor {cursor!r} twice while listing {asset_type}")
            seen_cursors.add(cursor)
            params["cursor"] = cursor


def received(aadsys: AadsysProcess, asset_type: str, provider: str) -> list[dict[str, Any]]:
    """The instances of ``asset_type`` that ``aadsys`` received from ``provider`` (an org slug)."""
    return list_instances(aadsys, asset_type, provider=provider)


def wait_for(predicate: Callable[[], T], timeout: float, *, interval: float = 0.2, what: str) -> T:
    """Call ``predicate`` until it returns something truthy and return that; fail naming ``what``.

    A transport error counts as "not yet" (a process may be restarting); other exceptions propagate.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except httpx.TransportError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last value seen: "
                                 f"{_short(repr(last))}")
        time.sleep(interval)


def proc_status_bytes(pid: int, field: str) -> int:
    """A memory field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``…), which the kernel gives in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise HarnessError(f"/proc/{pid}/status has no {field}")


def _assert_port_free(port: int) -> None:
    """Bind as a server would (SO_REUSEADDR, so a crashed predecessor's TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise HarnessError(f"port {port} on {LOOPBACK} is taken by another process ({exc.strerror})") from None


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise HarnessError(f"{what}: {response.request.method} {response.request.url} answered "
                           f"{response.status_code}: {response.text}")
    return response.json() if response.content else {}  # type: ignore[no-any-return]


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"

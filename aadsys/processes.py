"""Drivers of the system's processes: an ABM Portal and AAdSys, each started from its own command line on a
loopback port and driven only through its command line and HTTP API, as operators and partners drive them.

One home for them: ``aadsys bench`` runs its partners with these, the demo (``valuechain``) its chain, and the
tests their real-process checks. Nothing of ``abm_portal`` or ``connector`` is imported here (DESIGN §2): the
portal is a separate deployment, and the connector runs inside ``aadsys serve`` as an extension.

Every wait is bounded. A process that fails to start or answer raises ``ProcessError`` with the tail of its
log, so whoever reads the error learns why without running it again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

import httpx

from aadsys.tls import client_context

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
CLI_SECONDS = 120.0  # one command line run (imports alone take a second or more)
READY_SECONDS = 60.0  # from spawn to a healthy /healthz
STOP_SECONDS = 5.0  # SIGTERM's grace, then SIGINT's (uvicorn's force quit), then SIGKILL
HTTP_SECONDS = 30.0
LOG_TAIL_LINES = 40
PORTS_FROM = 20000  # servers the tools start listen from here up to the ephemeral range
QUICK = {"AADSYS_CONNECTOR_POLL_SECONDS": "1"}  # connectors look at the portal every second, not every five
# Settings a developer's shell may hold would silently override a data dir's own (environment beats the file).
SCRUBBED_ENV_PREFIXES = ("AADSYS_", "ABM_PORTAL_", "PEC_SHOP_", "OMIS_LINE_")


class ProcessError(RuntimeError):
    """A process did not do what was asked of it (start, answer, run a command, reach a state in time)."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now, below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` comes from the range it also gives every outgoing connection, so on
    a busy machine a client's socket could take it between this call and the server's bind. Below that range only
    servers bind, and two callers are kept apart by a random start.
    """
    low = _ephemeral_low()
    if low - PORTS_FROM < 1000:  # a machine whose ephemeral range starts low: the kernel's choice it is
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port: int = probe.getsockname()[1]
            return port
    start = random.randrange(PORTS_FROM, low)
    for port in (*range(start, low), *range(PORTS_FROM, start)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise ProcessError(f"no free port on {LOOPBACK} between {PORTS_FROM} and {low}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def wait_for(check: Callable[[], T | None], what: str, *, timeout: float = 60.0, interval: float = 0.05) -> T:
    """``check()``'s first truthy answer within ``timeout`` seconds; ``ProcessError`` naming ``what`` otherwise.

    A transport error counts as "not yet" (a process may be starting or restarting); other errors propagate.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            answer = check()
            if answer:
                return answer
            last = answer
        except httpx.TransportError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise ProcessError(f"timed out after {timeout:g} s waiting for {what}; last seen: {_short(repr(last))}")
        time.sleep(interval)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every child: ours without the apps' own prefixes, unbuffered output, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"  # so a log tail shows the last words of a process that died
    env.update(extra or {})
    return env


def http_client(base_url: str, headers: Mapping[str, str] | None = None, *, ca_file: Path | None = None,
                **options: Any) -> httpx.Client:
    """A loopback client that verifies certificates (against ``ca_file``, else the system's store); ``trust_env``
    off, so an HTTP(S)_PROXY in the environment cannot intercept 127.0.0.1."""
    return httpx.Client(base_url=base_url, headers=dict(headers or {}), timeout=options.pop("timeout", HTTP_SECONDS),
                        trust_env=False, verify=client_context(ca_file), **options)


@dataclass(frozen=True)
class RunTls:
    """TLS for every process of a run (``make demo ARGS=--tls``): one certificate for loopback, made by ``aadsys
    certs`` with a development CA that every process, and every client of these drivers, trusts (``tls_ca_file``)."""

    cert_file: Path
    key_file: Path
    ca_file: Path

    @classmethod
    def make(cls, directory: Path) -> RunTls:
        done = subprocess.run([sys.executable, "-m", "aadsys", "certs", "--out", str(directory), "--host", LOOPBACK,
                               "--host", "localhost", "--name", "loopback"], capture_output=True, text=True,
                              timeout=CLI_SECONDS, check=False, env=child_env())
        if done.returncode != 0:
            raise ProcessError(f"`aadsys certs` exited {done.returncode}:\n{_tail(done.stderr or done.stdout)}")
        return cls(directory / "loopback.pem", directory / "loopback-key.pem", directory / "ca.pem")

    def env(self, prefix: str, *, client: bool = True) -> dict[str, str]:
        """The settings (``<prefix>TLS_CERT`` …) that make a process serve TLS and, when it is a ``client`` of
        another, trust the CA."""
        chosen = {f"{prefix}TLS_CERT": str(self.cert_file), f"{prefix}TLS_KEY": str(self.key_file)}
        return {**chosen, f"{prefix}TLS_CA_FILE": str(self.ca_file)} if client else chosen


def proc_status_bytes(pid: int, field: str) -> int:
    """A memory field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM`` …), which the kernel gives in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise ProcessError(f"/proc/{pid}/status has no {field}")


class ServerProcess:
    """One serving child process (``python -m <module> serve``) with its data dir, port and log file.

    The port is kept across restarts, because partners (and the portal) know a process by its URL.
    """

    module: ClassVar[str]
    settings_prefix: ClassVar[str]  # of its environment variables, e.g. AADSYS_
    calls_others: ClassVar[bool] = True  # a client of another server too (then it trusts a run's CA)

    def __init__(self, data_dir: Path, *, port: int | None = None, env: Mapping[str, str] | None = None,
                 name: str | None = None, tls: RunTls | None = None) -> None:
        self.data_dir, self.port, self.name, self.tls = data_dir, port, name or data_dir.name, tls
        tls_env = tls.env(self.settings_prefix, client=self.calls_others) if tls else {}
        self.env = child_env({**tls_env, **(env or {})})
        self.log_path = data_dir / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} port={self.port} pid={self.pid}>"

    @property
    def url(self) -> str:
        if self.port is None:
            raise ProcessError(f"{self!r} has not been started, so it has no URL yet")
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}"

    def http(self, headers: Mapping[str, str] | None = None, **options: Any) -> httpx.Client:
        """A client of this process that verifies its certificate (against the run's CA, or the system's store)."""
        return http_client(self.url, headers, ca_file=self.tls.ca_file if self.tls else None, **options)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def running_pid(self) -> int:
        """The pid of the running process (``ProcessError`` when it does not run)."""
        if self.process is None or not self.running:
            raise ProcessError(f"{self!r} is not running")
        return self.process.pid

    # -- its command line ----------------------------------------------------------------------------------------
    def cli(self, *args: str, stdin: str | None = None,
            timeout: float = CLI_SECONDS) -> subprocess.CompletedProcess[str]:
        """``python -m <module> <args> --data-dir D``; never raises on the command's failure."""
        return subprocess.run([sys.executable, "-m", self.module, *args, "--data-dir", str(self.data_dir)],
                              env=self.env, capture_output=True, text=True, input=stdin, timeout=timeout,
                              check=False)

    def cli_result(self, *args: str, stdin: str | None = None) -> str:
        """Run a command whose result is its last stdout line (ids, keys, tokens are printed that way)."""
        done = self.cli(*args, stdin=stdin)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise ProcessError(f"`{self.module} {' '.join(args)}` exited {done.returncode}:\n"
                               f"{_tail(done.stderr or done.stdout)}")
        return lines[-1]

    # -- its life ------------------------------------------------------------------------------------------------
    def serve_command(self) -> list[str]:
        return [sys.executable, "-m", self.module, "serve", "--data-dir", str(self.data_dir), "--host", LOOPBACK,
                "--port", str(self.port)]

    def start(self, port: int | None = None, *, wait: bool = True) -> None:
        """Spawn ``serve`` on ``port`` (else the previous port, else a free one); with ``wait``, until healthy.

        ``wait=False`` lets a caller start several processes and pay their start-up time once. The child runs in
        a session of its own, so a terminal's Ctrl-C reaches only whoever started it, who stops it in order.
        """
        if self.running:
            raise ProcessError(f"{self!r} is running already")
        self.port = port or self.port or free_port()
        _assert_port_free(self.port)  # else /healthz of whoever holds it would pass for ours
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"\n--- serve on {LOOPBACK}:{self.port} ---\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(self.serve_command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        """Poll ``/healthz`` until it answers 200; fail early, with the log tail, if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise ProcessError(f"{self!r} exited ({code}) before it was ready:\n{self.log_tail()}")
            try:
                with self.http(timeout=1.0) as client:
                    if self._healthy(client.get("/healthz")):
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise ProcessError(f"{self!r} did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def _healthy(self, response: httpx.Response) -> bool:
        return response.status_code == 200

    def stop(self) -> None:
        """SIGTERM; then SIGINT (uvicorn's force quit) and SIGKILL, each after ``STOP_SECONDS``. Safe to call on a
        stopped, killed or never started process."""
        process = self.process
        if process is not None and process.poll() is None:
            for step in (process.terminate, lambda: process.send_signal(signal.SIGINT), process.kill):
                step()
                if _exited(process, STOP_SECONDS):
                    break
        self._close_log()

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown hooks, no flushing."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=STOP_SECONDS)
        self._close_log()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP for the duration, then SIGCONT: the process hangs with its sockets open, as a stuck one would."""
        if not self.running or self.process is None:
            raise ProcessError(f"{self!r} is not running, so it cannot be paused")
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop (if still running) and start again on the same port, until healthy."""
        self.stop()
        self.start(self.port)

    def peak_rss_bytes(self) -> int:
        """Peak resident memory so far (``VmHWM``); the process must still run."""
        if not self.running or self.pid is None:
            raise ProcessError(f"{self!r} is not running; its peak RSS is gone with it")
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


@dataclass(frozen=True)
class Organisation:
    """An organisation registered at the portal, as its people and its connector know it."""

    name: str
    org_id: str
    client_id: str
    client_secret: str
    admin_email: str
    admin_token: str


class PortalProcess(ServerProcess):
    """The ABM Portal: ``abm-portal init``, ``org create``, ``token create``, ``serve``; REST API decisions."""

    module = "abm_portal"
    settings_prefix = "ABM_PORTAL_"
    calls_others = False

    def __init__(self, data_dir: Path, *, port: int | None = None, env: Mapping[str, str] | None = None,
                 tls: RunTls | None = None) -> None:
        super().__init__(data_dir, port=port, env=env, name="portal", tls=tls)
        self.orgs: dict[str, Organisation] = {}  # by name, as registered

    def serve_command(self) -> list[str]:
        self.env["ABM_PORTAL_PUBLIC_URL"] = self.url  # the issuer its tokens name, as partners reach it
        return super().serve_command()

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cli_result("init")

    def register(self, name: str, admin_email: str, password: str) -> Organisation:
        """``org create`` plus a personal token for its admin. Works before and after ``start``."""
        password_file = self.data_dir / f"password-{name.lower()}.txt"
        password_file.write_text(password + "\n")
        try:
            made = json.loads(self.cli_result("org", "create", name, "--admin-email", admin_email,
                                              "--admin-password-file", str(password_file)))
        finally:
            password_file.unlink(missing_ok=True)
        token = self.cli_result("token", "create", "--user", admin_email)
        self.orgs[name] = Organisation(name, made["org_id"], made["client_id"], made["client_secret"], admin_email,
                                       token)
        return self.orgs[name]

    def api(self, token: str) -> httpx.Client:
        """A client of the portal REST API acting with ``token`` (personal or connector access token)."""
        return self.http({"Authorization": f"Bearer {token}"})

    def connector_token(self, org: Organisation) -> str:
        """An access token through the OAuth2 client-credentials grant (RFC 6749 §4.4), as a connector gets one."""
        with self.http() as client:
            response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                   auth=(org.client_id, org.client_secret))
        return str(_ok(response, "client-credentials token")["access_token"])

    def decide(self, subscription_id: str, admin: Organisation, action: str = "approve",
               **body: Any) -> dict[str, Any]:
        """An organisation administrator's decision over the REST API (approve, reject, revoke), as a person in
        the web UI would make it."""
        with self.api(admin.admin_token) as api:
            return _ok(api.post(f"/api/v1/subscriptions/{subscription_id}/{action}", json=body or None), action)


class AadsysProcess(ServerProcess):
    """One enterprise's AAdSys (gateway, core and, with portal settings, connector in one process)."""

    module = "aadsys"
    settings_prefix = "AADSYS_"

    def __init__(self, data_dir: Path, *, org: str, base_iri: str, port: int | None = None,
                 env: Mapping[str, str] | None = None, name: str | None = None, tls: RunTls | None = None,
                 workers: int = 1) -> None:
        super().__init__(data_dir, port=port, env=env, name=name, tls=tls)
        self.org, self.base_iri, self.workers = org, base_iri, workers
        self.key: str | None = None  # the write key ``api()`` uses (the first one ``create_key`` made)

    def serve_command(self) -> list[str]:
        command = super().serve_command()
        return command + ["--workers", str(self.workers)] if self.workers > 1 else command

    def _healthy(self, response: httpx.Response) -> bool:
        return response.status_code == 200 and response.json().get("status") == "ok"

    def init(self, *, portal: PortalProcess | None = None, organisation: Organisation | None = None,
             database_url: str | None = None, public_url: str | None = None) -> None:
        """``aadsys init``; with the portal and its organisation the AAdSys is a portal member. The client secret
        goes through a file, as an operator passes it; ``init`` keeps its own copy in the data dir."""
        if (portal is None) != (organisation is None):
            raise ValueError("portal and organisation go together")
        args = ["init", "--org", self.org, "--base-iri", self.base_iri]
        if database_url:
            args += ["--database-url", database_url]
        if public_url:
            args += ["--public-url", public_url]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret_file = self.data_dir / "client-secret.given"
        if portal is not None and organisation is not None:
            secret_file.write_text(organisation.client_secret + "\n")
            args += ["--portal-url", portal.url, "--client-id", organisation.client_id, "--client-secret-file",
                     str(secret_file)]
        try:
            self.cli_result(*args)
        finally:
            secret_file.unlink(missing_ok=True)

    def create_key(self, name: str = "erp", scope: str = "write") -> str:
        """A new API key (``aadsys keys create``); the first write key becomes the one ``api()`` uses."""
        key = self.cli_result("keys", "create", "--name", name, "--scope", scope)
        if scope == "write" and self.key is None:
            self.key = key
        return key

    @property
    def write_key(self) -> str:
        """The write key ``api()`` uses; ``ProcessError`` before ``create_key``."""
        if self.key is None:
            raise ProcessError(f"{self!r} has no API key yet: call create_key() first")
        return self.key

    def api(self, key: str | None = None) -> httpx.Client:
        """A business-API client with ``key`` (default: the write key from ``create_key``)."""
        return self.http({"X-API-Key": key or self.write_key})

    def connector_json(self, *args: str) -> Any:
        """``aadsys connector <args> --json``, parsed."""
        return json.loads(self.cli_result("connector", *args, "--json"))

    def status(self) -> dict[str, Any]:
        """``GET /connector/v1/status`` of the running AAdSys: what the CLI shows plus each channel's state."""
        with self.api() as api:
            return _ok(api.get("/connector/v1/status"), "connector status")

    def channel_open(self, subscription_id: str) -> bool:
        return any(s["id"] == subscription_id and s.get("channel", {}).get("connected")
                   for s in self.status()["subscriptions"])

    def instances(self, asset_type: str, *, provider: str | None = None) -> list[dict[str, Any]]:
        """Every instance of ``asset_type``, oldest first: own ones, or with ``provider`` those received from it."""
        params: dict[str, str | int] = {"limit": 500}
        if provider is not None:
            params["provider"] = provider
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        with self.api() as api:
            while True:
                page = _ok(api.get(f"/api/v1/asset-types/{asset_type}/instances", params=params), "instance list")
                items += page["items"]
                cursor = page.get("nextCursor")
                if not cursor:
                    return items
                if cursor in seen:
                    raise ProcessError(f"{self!r} returned cursor {cursor!r} twice while listing {asset_type}")
                seen.add(cursor)
                params["cursor"] = cursor


def _exited(process: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _assert_port_free(port: int) -> None:
    """Bind as a server would (SO_REUSEADDR, so a crashed predecessor's TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            raise ProcessError(f"port {port} on {LOOPBACK} is taken by another process ({exc.strerror})") from None


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise ProcessError(f"{what}: {response.request.method} {response.request.url} answered "
                           f"{response.status_code}: {response.text}")
    return dict(response.json()) if response.content else {}


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"

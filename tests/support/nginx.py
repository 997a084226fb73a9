"""Debian's nginx as the suite's reverse proxy, running the site files of ``deploy/nginx`` on loopback.

Each proxy is its own nginx master (``daemon off``) with a configuration generated into a temporary directory:
the deployed site file with only what a test must change (the upstream servers, the listen address and port,
the certificate, absolute include paths), so a test exercises the file operators install. The system's nginx
service is never used. A missing nginx fails with the Debian package to install; nothing is skipped.

``proxy_bind`` makes nginx connect to the workers from another loopback address than the tests' own clients
(127.0.0.1): the workers then trust the proxy's address alone, as they would trust a proxy host's.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.pki import Pki
from tests.support.postgres import free_port

NGINX = Path("/usr/sbin/nginx")
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
LOG_FORMAT = "'$remote_addr $request_method $uri $status \"$upstream_addr\" \"$upstream_status\"'"


@dataclass
class Certificate:
    """The proxy's certificate for 127.0.0.1 and its key, signed by a development CA whose certificate is ``ca``
    (made by the code of ``aadsys certs``, ``tests.support.pki``)."""

    ca: Path
    cert: Path
    key: Path


@dataclass
class RunningNginx:
    url: str
    access_log: Path
    process: subprocess.Popen[bytes]
    directory: Path

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def nginx_binary() -> Path:
    if not NGINX.exists():
        raise RuntimeError(f"nginx is not installed at {NGINX}: install the Debian package 'nginx' "
                           "(make test does this through scripts/ensure-system-packages.sh)")
    return NGINX


def loopback_certificate(directory: Path) -> Certificate:
    pki = Pki(directory)
    server = pki.server("proxy")
    return Certificate(pki.ca().cert_file, server.cert_file, server.key_file)


def _replace(text: str, pattern: str, replacement: str, *, flags: int = 0) -> str:
    changed, count = re.subn(pattern, replacement, text, flags=flags)
    if not count:
        raise AssertionError(f"deploy/nginx no longer has what the tests replace ({pattern!r}): update both")
    return changed


def site_for_test(site: str, upstream: str, servers: list[str], port: int, certificate: Certificate) -> str:
    """The deployed site file ``site`` with the test's workers, listen port, certificate and include paths."""
    text = (DEPLOY / site).read_text()
    text = _replace(text, r"\nserver \{\s*listen 80;.*?\n\}\n", "\n", flags=re.DOTALL)  # no port 80 here
    block = re.search(rf"upstream {upstream} \{{.*?\n\}}", text, flags=re.DOTALL)
    if block is None:
        raise AssertionError(f"deploy/nginx/{site} has no upstream {upstream}")
    params = re.search(r"^\s*server \S+ ([^;#]*);", block.group(0), flags=re.MULTILINE)
    if params is None:
        raise AssertionError(f"the upstream {upstream} of deploy/nginx/{site} lists no server")
    lines = "".join(f"    server {address} {params.group(1)};\n" for address in servers)
    body = re.sub(r"^\s*server \S+ [^\n]*\n", "", block.group(0), flags=re.MULTILINE)
    text = text.replace(block.group(0), body.replace("{\n", "{\n" + lines, 1))
    text = _replace(text, r"listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    text = _replace(text, r"\n\s*listen \[::\]:443 ssl http2;", "")
    text = _replace(text, r"ssl_certificate \S+;", f"ssl_certificate {certificate.cert};")
    text = _replace(text, r"ssl_certificate_key \S+;", f"ssl_certificate_key {certificate.key};")
    return _replace(text, r"include snippets/", f"include {DEPLOY}/snippets/")


def start_nginx(directory: Path, site: str, upstream: str, servers: list[str], *,
                proxy_bind: str | None = None, certificate: Certificate | None = None
                ) -> tuple[RunningNginx, Certificate]:
    """nginx serving ``deploy/nginx/<site>`` over the workers at ``servers`` (host:port), on https at a free
    loopback port, with ``certificate`` (default: one of a CA of its own); returns it with the certificate (its
    ``ca`` is what clients trust)."""
    binary = nginx_binary()
    directory.mkdir(parents=True, exist_ok=True)
    certificate = certificate or loopback_certificate(directory / "tls")
    port = free_port()
    (directory / "site.conf").write_text(site_for_test(site, upstream, servers, port, certificate))
    temp = "".join(f"    {kind}_temp_path {directory / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (directory / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\nevents {{ worker_connections 512; }}\n"
        f"http {{\n    log_format upstreams {LOG_FORMAT};\n"
        f"    access_log {directory / 'access.log'} upstreams;\n{temp}"
        + (f"    proxy_bind {proxy_bind};\n" if proxy_bind else "")
        + f"    include {directory / 'site.conf'};\n}}\n")
    process = subprocess.Popen([str(binary), "-p", str(directory), "-c", str(directory / "nginx.conf"),
                                "-e", str(directory / "error.log")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    running = RunningNginx(f"https://127.0.0.1:{port}", directory / "access.log", process, directory)
    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            errors = (directory / "error.log").read_text() if (directory / "error.log").exists() else ""
            raise RuntimeError(f"nginx did not start: {errors}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return running, certificate
        except OSError:
            if time.monotonic() > deadline:
                running.stop()
                raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within 10 s") from None
            time.sleep(0.05)

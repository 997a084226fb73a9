"""A throw-away PostgreSQL cluster, for the test suite and the benchmarks: a real server, on loopback only.

The cluster lives in a temporary directory and listens on 127.0.0.1 at a free port. PostgreSQL refuses to run
as root, so when run as root (CI) the server runs as the Debian ``postgres`` user. A missing server binary fails
with a message that names the missing piece. The suite's cluster skips durability (``fsync`` off: a test never
survives a power cut); a benchmark's keeps it, as a deployment would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aadsys.processes import free_port

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def _pg_bin(name: str) -> str:
    for d in PG_BIN_DIRS:
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(
        f"PostgreSQL server binary '{name}' not found: install the Debian package 'postgresql' "
        "(make test and make bench do this through scripts/ensure-system-packages.sh)"
    )


@dataclass
class PostgresServer:
    port: int
    data_dir: Path
    _runas: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(
            [*self._runas, _pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", database, "-v", "ON_ERROR_STOP=1", "-qc", sql],
            check=True, capture_output=True,
        )

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([*self._runas, _pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_postgres(*, durable: bool = False) -> PostgresServer:
    root = Path(tempfile.mkdtemp(prefix="aadsys-pg-"))
    data = root / "data"
    runas: list[str] = []
    if os.geteuid() == 0:
        runas = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    os.chmod(root, 0o755)
    subprocess.run([*runas, _pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    port = free_port()
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c max_connections=200"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run([*runas, _pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w",
                    "start"], check=True, capture_output=True)
    server = PostgresServer(port=port, data_dir=data, _runas=runas)
    deadline = time.monotonic() + 30
    while True:
        try:
            server.psql("SELECT 1")
            return server
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; see {root / 'log'}") from None
            time.sleep(0.2)

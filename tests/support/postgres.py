"""The suite's PostgreSQL: the throw-away cluster of ``aadsys.postgres`` (fsync off), and free loopback ports."""

from aadsys.postgres import PostgresServer, start_postgres
from aadsys.processes import free_port

__all__ = ["PostgresServer", "free_port", "start_postgres"]

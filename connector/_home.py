"""What the connector keeps in an AAdSys's data directory: its own folder (key pairs, trust cache) and the
client secret ``aadsys init`` copied there. Light on purpose: every ``aadsys connector …`` command needs it."""

from __future__ import annotations

from pathlib import Path

from connector.errors import ConfigurationError


def connector_dir(data_dir: Path) -> Path:
    return data_dir / "connector"


def read_secret(path: Path | None) -> str:
    if path is None or not path.exists():
        raise ConfigurationError(f"the client secret file {path} is missing; give it with `aadsys init "
                                 "--client-secret-file` (from `abm-portal org create`)")
    secret = path.read_text().strip()
    if not secret:
        raise ConfigurationError(f"the client secret file {path} is empty")
    return secret

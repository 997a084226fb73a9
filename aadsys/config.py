"""Settings of one AAdSys, from environment variables ``AADSYS_*`` and ``<data-dir>/aadsys.toml``.

Precedence, highest first: explicit arguments, environment, the TOML file, defaults.
No other module reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = "aadsys.toml"
DEFAULT_DATA_DIR = Path("data/aadsys")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AADSYS_", extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Holds the database, files and aadsys.toml")
    org: str = Field("pec", description="This enterprise's organisation slug, e.g. 'pec' or 'omis'")
    base_iri: str = Field("https://pec.example", description="Base IRI of every id this AAdSys mints")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in data_dir")
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = Field(2 * 1024 * 1024, description="Largest instance body accepted (HTTP 413 above)")
    max_file_bytes: int = Field(50 * 1024 * 1024, description="Largest file upload accepted (HTTP 413 above)")
    aas_anonymous_read: bool = Field(False, description="Allow the AAS Part 2 read API without an API key")
    access_log: bool = Field(False, description="Log every HTTP request (uvicorn's access log); off by default: at "
                                                "thousands of reads a second it costs a quarter of a read's CPU")
    metrics_token_file: Path | None = Field(None, description="File whose first line is the bearer token that "
                                                           "GET /metrics requires (Prometheus sends it with "
                                                           "authorization.credentials_file); default "
                                                           "<data_dir>/metrics-token; without the file /metrics "
                                                           "refuses every request")
    event_poll_seconds: float = Field(2.0, description="How often event streams look for rows from other processes")
    # Membership of an ABM Portal: with portal_url set, the connector extension runs beside the gateway.
    portal_url: str | None = Field(None, description="The ABM Portal's base URL, e.g. https://portal.example; "
                                                     "unset: no connector runs")
    client_id: str | None = Field(None, description="This organisation's connector client id at the portal")
    client_secret_file: Path | None = Field(None, description="File holding the connector's client secret")
    public_url: str | None = Field(None, description="Where partners' connectors reach this AAdSys; "
                                                     "default http://<host>:<port>")

    @field_validator("portal_url", "public_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://portal.example")
        return v.rstrip("/") if v else v

    @field_validator("base_iri")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_iri must be an http(s) IRI such as https://pec.example")
        return v.rstrip("/")

    @field_validator("org")
    @classmethod
    def _org_slug(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c == "-" for c in v) or v != v.lower():
            raise ValueError("org must be a lowercase slug of letters, digits and '-', e.g. 'pec'")
        return v

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'aadsys.db'}"

    @property
    def resolved_metrics_token_file(self) -> Path:
        return self.metrics_token_file or self.data_dir / "metrics-token"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def advertised_url(self) -> str:
        """The URL partners' connectors use to reach this AAdSys."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        data_dir = _data_dir_hint(init_settings)
        toml = TomlConfigSettingsSource(settings_cls, toml_file=data_dir / CONFIG_FILE_NAME)
        return init_settings, env_settings, toml


def _data_dir_hint(init_settings: PydanticBaseSettingsSource) -> Path:
    explicit: dict[str, Any] = init_settings()
    value = explicit.get("data_dir") or os.environ.get("AADSYS_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(value)


def load_settings(**overrides: Any) -> Settings:
    """Settings for one AAdSys; ``None`` overrides are ignored so CLI options can pass through unset."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def absent(settings: Settings) -> str | None:
    """Why ``settings`` name no AAdSys that ``aadsys init`` made, in words that say what to fix; None if they do.

    Commands that work on an AAdSys check this first, so that a mistyped ``--data-dir`` is named as such (and
    no empty database is made in a folder that held none)."""
    where = settings.data_dir
    if not where.is_dir():
        return (f"the data directory {where} does not exist: give the --data-dir that `aadsys init` made "
                f"(default {DEFAULT_DATA_DIR}, or set AADSYS_DATA_DIR)")
    if settings.database_url is None and not (where / "aadsys.db").is_file():
        return (f"{where} holds no AAdSys (no database): give the --data-dir that `aadsys init` made, or make one "
                f"with `aadsys init --data-dir {where} --org ORG --base-iri IRI`")
    return None


PERSISTED = ("org", "base_iri", "database_url", "portal_url", "client_id", "client_secret_file", "public_url")


def write_config_file(settings: Settings) -> Path:
    """Persist the identity chosen at ``aadsys init`` so later commands need only ``--data-dir``.

    Tables another part keeps in the file (such as ``[connector]``) stay as they are.
    """
    path = settings.data_dir / CONFIG_FILE_NAME
    kept = ""
    if path.exists():
        text = path.read_text()
        start = text.find("\n[")
        kept = text[start:] if start >= 0 else (text if text.startswith("[") else "")
    lines = [f"{name} = {_toml_string(str(value))}" for name in PERSISTED
             if (value := getattr(settings, name)) is not None]
    kept = kept.strip("\n")
    path.write_text("\n".join(lines) + "\n" + (f"\n{kept}\n" if kept else ""))
    return path


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


"""Settings of one AAdSys, from environment variables ``AADSYS_*`` and ``<data-dir>/aadsys.toml``.

Precedence, highest first: explicit arguments, environment, the TOML file, defaults.
No other module reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from aadsys.tls import client_context, plain_http_problem

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
    # Bulk ingest (a JSON array or application/x-ndjson to POST /api/v1/asset-types/{type}/instances): each record
    # is held to max_body_bytes on its own; the request as a whole to these.
    bulk_max_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Largest bulk body accepted (HTTP 413 above, "
                                                                    "before anything is stored)")
    bulk_max_items: int = Field(5_000, gt=0, description="Most records in one bulk body (HTTP 413 above, before "
                                                          "anything is stored)")
    bulk_chunk_items: int = Field(500, gt=0, description="Records of a bulk body stored per transaction: a failure "
                                                         "of the database leaves whole chunks only")
    aas_anonymous_read: bool = Field(False, description="Allow the AAS Part 2 read API without an API key")
    workers: int = Field(1, ge=1, le=64, description="worker processes of 'serve'; more than one needs PostgreSQL "
                                                     "(workers share the database and lease the connector's work)")
    access_log: bool = Field(False, description="Log every HTTP request (uvicorn's access log); off by default: at "
                                                "thousands of reads a second it costs a quarter of a read's CPU")
    metrics_token_file: Path | None = Field(None, description="File whose first line is the bearer token that "
                                                           "GET /metrics requires (Prometheus sends it with "
                                                           "authorization.credentials_file); default "
                                                           "<data_dir>/metrics-token; without the file /metrics "
                                                           "refuses every request")
    forwarded_allow_ips: str = Field("", description="Comma-separated addresses or networks of the reverse proxies "
                                     "whose X-Forwarded-For and X-Forwarded-Proto are believed, e.g. "
                                     "'10.0.0.5,10.0.1.0/24'; default none: the client address is the peer's "
                                     "(uvicorn alone would believe 127.0.0.1)")
    event_poll_seconds: float = Field(2.0, description="How often event streams look for rows from other processes")
    # Membership of an ABM Portal: with portal_url set, the connector extension runs beside the gateway.
    portal_url: str | None = Field(None, description="The ABM Portal's base URL, e.g. https://portal.example; "
                                                     "unset: no connector runs")
    client_id: str | None = Field(None, description="This organisation's connector client id at the portal")
    client_secret_file: Path | None = Field(None, description="File holding the connector's client secret")
    public_url: str | None = Field(None, description="Where partners' connectors reach this AAdSys; "
                                                     "default http(s)://<host>:<port>")
    # TLS (DESIGN §10; deploy/README.md "TLS"): http:// is accepted on loopback only, every client verifies.
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) 'serve' presents; with tls_key the "
                                                    "AAdSys serves https and wss only")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    tls_ca_file: Path | None = Field(None, description="PEM file of the CAs whose certificates this AAdSys's "
                                                       "clients trust (the connector towards the portal and "
                                                       "partners, the 'aadsys connector' commands) instead of "
                                                       "the system's trust store; only for a private CA")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Browser origins allowed to read the API across origins (CORS), e.g. "
                                          "http://localhost:3000 for an AAS Web UI served there; comma-separated in "
                                          "the environment; none by default")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: object) -> object:
        """Comma-separated in ``AADSYS_CORS_ORIGINS``, a list in aadsys.toml; each ``scheme://host[:port]``, no path."""
        values = [part.strip() for part in v.split(",") if part.strip()] if isinstance(v, str) else v
        for origin in values if isinstance(values, list) else []:
            if not isinstance(origin, str) or not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"'{origin}' is not a browser origin; write scheme://host[:port] with no path or "
                                 "trailing slash, e.g. http://localhost:3000")
        return values

    @field_validator("portal_url", "public_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://portal.example")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> Settings:
        """Both TLS files or neither; and no plain http:// to or from another machine (DESIGN §10)."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (--tls-cert and --tls-key) or neither")
        urls = {"portal_url": self.portal_url, "public_url": self.public_url}
        if self.portal_url and not self.public_url:
            urls["public_url (by default from host and port)"] = self.advertised_url
        for setting, url in urls.items():
            if url and (problem := plain_http_problem(url, setting)):
                raise ValueError(problem)
        return self

    @field_validator("tls_ca_file")
    @classmethod
    def _readable_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            client_context(value)  # a ValueError that names the file, now rather than at the first call
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, v: str) -> str:
        entries = [part.strip() for part in v.split(",") if part.strip()]
        for entry in entries:  # uvicorn would take a typo as a host name that never matches
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"'{entry}' is not an IP address or network; list the reverse proxies' "
                                 "addresses, e.g. 10.0.0.5,10.0.1.0/24") from None
        return ",".join(entries)

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

    def hand_to_workers(self) -> None:
        """Let worker processes (started afresh by ``serve --workers``) load these same settings: they read the
        environment and the data directory's file, so the data directory and what the command line chose is all
        they must be told."""
        os.environ["AADSYS_DATA_DIR"] = str(self.data_dir.resolve())
        for name in ("host", "port", "tls_cert", "tls_key"):
            value = getattr(self, name)
            if value is not None:
                os.environ[f"AADSYS_{name.upper()}"] = str(value)

    @property
    def proxy_options(self) -> dict[str, Any]:
        """uvicorn's options for proxy headers: believed from ``forwarded_allow_ips`` only (DESIGN §10)."""
        trusted = [entry for entry in self.forwarded_allow_ips.split(",") if entry]
        return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def advertised_url(self) -> str:
        """The URL partners' connectors use to reach this AAdSys."""
        return self.public_url or f"{'https' if self.tls_cert else 'http'}://{self.host}:{self.port}"

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


class InvalidSettings(ValueError):
    """Settings that cannot be used; the message has one part per problem, each saying what to fix."""


def load_settings(**overrides: Any) -> Settings:
    """Settings for one AAdSys; ``None`` overrides are ignored so CLI options can pass through unset."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise InvalidSettings("; ".join(
            (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
            for e in exc.errors())) from None


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


PERSISTED = ("org", "base_iri", "database_url", "portal_url", "client_id", "client_secret_file", "public_url",
             "tls_ca_file")


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


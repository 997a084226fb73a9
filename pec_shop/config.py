"""Settings of the shop, from ``PEC_SHOP_*`` environment variables and ``<data-dir>/pec_shop.toml``.

Precedence, highest first: explicit arguments (CLI options), environment, the TOML file written by ``init``,
defaults. No other module reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from pec_shop.tls import client_context, plain_http_problem

ENV_PREFIX = "PEC_SHOP_"
CONFIG_FILE_NAME = "pec_shop.toml"
API_KEY_FILE_NAME = "aadsys-api-key"
DEFAULT_DATA_DIR = Path("data/pec_shop")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Holds the database, the API key and pec_shop.toml")
    aadsys_url: str = Field("http://127.0.0.1:8080", description="PEC's AAdSys, e.g. http://127.0.0.1:8080")
    api_key_file: Path | None = Field(None, description="File holding a write key of PEC's AAdSys; "
                                                        "default <data_dir>/aadsys-api-key")
    partner: str = Field("omis", description="Org slug whose Sales Order Status the shop accepts")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in data_dir")
    host: str = "127.0.0.1"
    port: int = 8090
    retry_seconds: float = Field(1.0, gt=0, description="First wait before a delivery or stream retry")
    retry_max_seconds: float = Field(30.0, gt=0, description="Longest wait between retries")
    poll_seconds: float = Field(5.0, gt=0, description="How often an idle sender looks for orders placed elsewhere")
    send_batch: int = Field(100, ge=1, le=1000, description="Most queued orders the sender hands the AAdSys in one "
                                                             "bulk request when more than one waits; 1: one order a "
                                                             "request")
    http_timeout_seconds: float = Field(10.0, gt=0, description="Connect/read timeout of calls to the AAdSys")
    metrics_token_file: Path | None = Field(None, description="File whose first line is the bearer token GET "
                                                           "/metrics requires; default <data_dir>/metrics-token; "
                                                           "without it /metrics refuses every request")
    max_image_bytes: int = Field(2 * 1024 * 1024, gt=0, description="Largest label image accepted")
    max_image_pixels: int = Field(25_000_000, gt=0, description="Largest label image in pixels (width x height)")
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) 'serve' presents; with tls_key it "
                                                    "serves https only")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    tls_ca_file: Path | None = Field(None, description="PEM file of the CAs whose certificates the AAdSys client "
                                                       "trusts instead of the system's store (a private CA only)")

    @field_validator("aadsys_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8080")
        if problem := plain_http_problem(v, "aadsys_url"):
            raise ValueError(problem)
        return v.rstrip("/")

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (--tls-cert and --tls-key) or neither")
        return self

    @field_validator("tls_ca_file")
    @classmethod
    def _readable_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            client_context(value)  # a ValueError that names the file, now rather than at the first call
        return value

    @field_validator("partner")
    @classmethod
    def _org_slug(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c == "-" for c in v) or v != v.lower():
            raise ValueError("partner must be a lowercase org slug of letters, digits and '-', e.g. 'omis'")
        return v

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'pec_shop.db'}"

    @property
    def resolved_metrics_token_file(self) -> Path:
        return self.metrics_token_file or self.data_dir / "metrics-token"

    @property
    def staff_password_file(self) -> Path:
        """The argon2 hash of the staff password (``init --staff-password-file``); the staff pages need it."""
        return self.data_dir / "staff-password.argon2"

    @property
    def resolved_api_key_file(self) -> Path:
        return self.api_key_file or self.data_dir / API_KEY_FILE_NAME

    def read_api_key(self) -> str:
        """The AAdSys key: the first line of the key file (raises OSError/ValueError with a readable message)."""
        path = self.resolved_api_key_file
        lines = path.read_text().splitlines()
        if not lines or not lines[0].strip():
            raise ValueError(f"the API key file {path} is empty; put the key on its first line")
        return lines[0].strip()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        explicit: dict[str, Any] = init_settings()
        data_dir = Path(explicit.get("data_dir") or os.environ.get(f"{ENV_PREFIX}DATA_DIR") or DEFAULT_DATA_DIR)
        toml = TomlConfigSettingsSource(settings_cls, toml_file=data_dir / CONFIG_FILE_NAME)
        return init_settings, env_settings, toml


def load_settings(**overrides: Any) -> Settings:
    """Settings of the shop; ``None`` overrides are ignored so CLI options can pass through unset."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


PERSISTED = ("aadsys_url", "partner", "database_url")


def write_config_file(settings: Settings) -> Path:
    """Keep what ``init`` chose, so ``serve`` needs only ``--data-dir``. The API key never goes in here."""
    path = settings.data_dir / CONFIG_FILE_NAME
    lines = [f"{name} = {json.dumps(str(value))}" for name in PERSISTED
             if (value := getattr(settings, name)) is not None]
    path.write_text("\n".join(lines) + "\n")
    return path

"""Settings of the ABM Portal, from environment variables ``ABM_PORTAL_*`` and ``<data-dir>/portal.toml``.

Precedence, highest first: explicit arguments, environment, the TOML file, defaults.
No other module of the portal reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_NAME = "portal.toml"
DEFAULT_DATA_DIR = Path("portal-data")
ENV_PREFIX = "ABM_PORTAL_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Holds the SQLite database, portal.toml and the web "
                                                         "session key")
    database_url: str | None = Field(None, description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/portal; "
                                                       "default: the SQLite file <data_dir>/portal.db")
    public_url: str = Field("http://127.0.0.1:8700", description="The portal's external base URL, as connectors "
                                                                 "and browsers reach it")
    issuer: str = Field("", description="The 'iss' of every token the portal signs; default: public_url")
    api_audience: str = Field("", description="The 'aud' of access tokens for this portal's REST API; "
                                              "default: <issuer>/api")
    access_token_ttl_seconds: int = Field(300, ge=10, le=86_400, description="Lifetime of an access token from "
                                                                             "/oauth/token")
    grant_max_ttl_seconds: int = Field(24 * 3600, ge=60, le=31 * 86_400,
                                       description="Longest lifetime of one grant JWT; long real-time "
                                                   "subscriptions fetch a fresh grant before it expires")
    clock_skew_seconds: int = Field(60, ge=0, le=600, description="Leeway for clocks that differ a little: token "
                                                                  "checks and 'historical range not in the future'")
    session_secret: SecretStr | None = Field(None, description="Key that signs web session cookies; default: one "
                                                               "kept in <data_dir>/web-session.key")
    secure_cookies: bool | None = Field(None, description="Mark cookies Secure; default: when public_url is https")
    operator_email: str | None = Field(None, description="Email of the first portal operator, made by 'init'")
    host: str = Field("127.0.0.1", description="Address 'abm-portal serve' listens on")
    port: int = Field(8700, ge=1, le=65_535, description="Port 'abm-portal serve' listens on")

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must be an http(s) URL such as https://portal.example")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _derived_identities(self) -> Settings:
        if not self.issuer:
            self.issuer = self.public_url
        if not self.api_audience:
            self.api_audience = f"{self.issuer}/api"
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'portal.db'}"

    @property
    def longest_token_lifetime_seconds(self) -> int:
        """How long a token signed now may stay valid: a retired signing key stays published this long."""
        return max(self.access_token_ttl_seconds, self.grant_max_ttl_seconds)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_data_dir_hint(init_settings) / CONFIG_FILE_NAME)
        return init_settings, env_settings, toml


def _data_dir_hint(init_settings: PydanticBaseSettingsSource) -> Path:
    explicit: dict[str, Any] = init_settings()  # type: ignore[assignment]
    return Path(explicit.get("data_dir") or os.environ.get(f"{ENV_PREFIX}DATA_DIR") or DEFAULT_DATA_DIR)


def load_settings(**overrides: Any) -> Settings:
    """Settings of the portal; ``None`` overrides are ignored so CLI options can pass through unset."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

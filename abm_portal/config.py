"""Settings of the ABM Portal, from environment variables ``ABM_PORTAL_*`` and ``<data-dir>/portal.toml``.

Precedence, highest first: explicit arguments, environment, the TOML file, defaults.
No other module of the portal reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
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

from abm_portal.tls import plain_http_problem

CONFIG_FILE_NAME = "portal.toml"
KEK_FILE_NAME = "signing-keys.kek"
DEFAULT_DATA_DIR = Path("portal-data")
ENV_PREFIX = "ABM_PORTAL_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Holds the SQLite database, portal.toml and the "
                                                         "key-encryption key file")
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
    kek: SecretStr | None = Field(None, description="Key-encryption key that seals the token signing keys at "
                                                   "rest: base64url of 32 random bytes; default: read from kek_file")
    kek_file: Path | None = Field(None, description="File holding the key-encryption key (made, mode 0600, by "
                                                    "'init' when no KEK is configured); default: "
                                                    "<data_dir>/signing-keys.kek")
    session_secret: SecretStr | None = Field(None, description="Key that signs web session cookies (the same on "
                                                               "every worker); default: one kept in the database, "
                                                               "sealed with the key-encryption key")
    secure_cookies: bool | None = Field(None, description="Mark cookies Secure; default: when public_url is https")
    operator_email: str | None = Field(None, description="Email of the first portal operator, made by 'init'")
    auth_free_failures: int = Field(3, ge=1, le=100, description="Failed logins of one account (or client "
                                                                "authentications of one client) answered at once; "
                                                                "each further one doubles a wait")
    auth_lockout_failures: int = Field(10, ge=2, le=1000, description="Failed attempts of one account or client "
                                                                     "that lock it for auth_lockout_seconds")
    auth_address_free_failures: int = Field(20, ge=1, le=10_000,
                                            description="As auth_free_failures, per client IP address (higher: "
                                                        "many people may share one address)")
    auth_address_lockout_failures: int = Field(100, ge=2, le=100_000,
                                               description="As auth_lockout_failures, per client IP address")
    auth_backoff_base_seconds: float = Field(1.0, ge=0, le=600, description="The first wait after the free "
                                                                            "failures; it doubles with each failure")
    auth_lockout_seconds: int = Field(900, ge=1, le=86_400, description="How long a lockout lasts, the longest "
                                                                        "wait, and how long failures are remembered")
    expiry_sweep_seconds: float = Field(2.0, gt=0, le=3600, description="How often the portal records the expiry "
                                        "of real-time subscriptions whose window closed (reads show it at once; "
                                        "the sweep writes the audit record and the revocation connectors poll)")
    metrics_token_file: Path | None = Field(None, description="File whose first line is the bearer token GET "
                                                           "/metrics requires; default <data_dir>/metrics-token; "
                                                           "without it /metrics refuses every request")
    host: str = Field("127.0.0.1", description="Address 'abm-portal serve' listens on")
    port: int = Field(8700, ge=1, le=65_535, description="Port 'abm-portal serve' listens on")
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) 'abm-portal serve' presents; with "
                                                    "tls_key the portal serves https only (deploy/README.md, TLS)")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    workers: int = Field(1, ge=1, le=64, description="Worker processes of 'abm-portal serve' (uvicorn's); more than "
                                                     "one needs PostgreSQL")
    forwarded_allow_ips: str = Field("", description="Comma-separated addresses or networks of the reverse proxies "
                                     "whose X-Forwarded-For and X-Forwarded-Proto are believed, e.g. "
                                     "'10.0.0.5,10.0.1.0/24'; default none: the client address is the peer's")

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must be an http(s) URL such as https://portal.example")
        if problem := plain_http_problem(value, "public_url"):
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        return ",".join(trusted_proxies(value))

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (--tls-cert and --tls-key) or neither")
        return self

    @model_validator(mode="after")
    def _lockouts_after_free_failures(self) -> Settings:
        if self.auth_lockout_failures <= self.auth_free_failures:
            raise ValueError("auth_lockout_failures must be greater than auth_free_failures")
        if self.auth_address_lockout_failures <= self.auth_address_free_failures:
            raise ValueError("auth_address_lockout_failures must be greater than auth_address_free_failures")
        return self

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
    def resolved_metrics_token_file(self) -> Path:
        return self.metrics_token_file or self.data_dir / "metrics-token"

    @property
    def resolved_kek_file(self) -> Path:
        return self.kek_file or self.data_dir / KEK_FILE_NAME

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


def trusted_proxies(value: str) -> list[str]:
    """The addresses and networks of a ``forwarded_allow_ips`` setting; ``ValueError`` names one that is neither.

    uvicorn would take any other word as a literal host name that never matches: a typo would silently trust
    no proxy, so every client would look like the proxy. ``*`` is refused: it lets every client choose its address.
    """
    entries = [part.strip() for part in value.split(",") if part.strip()]
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False) if "/" in entry else ipaddress.ip_address(entry)
        except ValueError:
            raise ValueError(f"'{entry}' is not an IP address or network; list the reverse proxies' addresses, "
                             "e.g. 10.0.0.5,10.0.1.0/24 (never '*': every client could name its own address)") from None
    return entries


def hand_to_workers(settings: Settings) -> None:
    """Let worker processes (``uvicorn --workers``, started afresh) load the same settings: they read the
    environment and the TOML file of the data directory, so the data directory is all they must be told."""
    os.environ[f"{ENV_PREFIX}DATA_DIR"] = str(settings.data_dir.resolve())


def _data_dir_hint(init_settings: PydanticBaseSettingsSource) -> Path:
    explicit: dict[str, Any] = init_settings()
    return Path(explicit.get("data_dir") or os.environ.get(f"{ENV_PREFIX}DATA_DIR") or DEFAULT_DATA_DIR)


def load_settings(**overrides: Any) -> Settings:
    """Settings of the portal; ``None`` overrides are ignored so CLI options can pass through unset."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

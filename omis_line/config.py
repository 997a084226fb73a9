"""Settings of the OMIS line, from ``OMIS_LINE_*`` environment variables and ``<data-dir>/omis_line.toml``.

Precedence, highest first: explicit arguments (CLI options), environment, the TOML file ``init`` wrote, defaults.
No other module of the line reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from omis_line.tls import client_context, plain_http_problem

CONFIG_FILE_NAME = "omis_line.toml"
API_KEY_FILE_NAME = "aadsys-api-key"
PASSWORD_HASH_FILE_NAME = "operator-password.argon2"
DEFAULT_DATA_DIR = Path("data/omis-line")
ENV_PREFIX = "OMIS_LINE_"
STATIONS = ("loading", "mixing", "filling", "capping", "printing", "packaging")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="database, label images, omis_line.toml, API key")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default the SQLite file "
                                                       "<data_dir>/omis_line.db")
    aadsys_url: str = Field("http://127.0.0.1:8080", description="OMIS's AAdSys base URL")
    api_key_file: Path | None = Field(None, description="file holding the AAdSys write key; default "
                                                        "<data_dir>/aadsys-api-key")
    partner: str = Field("pec", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
                         description="org slug whose Sales Orders the ERP takes")
    host: str = "127.0.0.1"
    port: int = Field(8091, ge=1, le=65_535)
    station_seconds: str = Field("0.5,1.5", description="'min,max' processing seconds per station")
    failure_probability: float | dict[str, float] = Field(
        0.02, description="chance a bottle fails at a station: one number, or a mapping station -> chance")
    failure_policy: Literal["rework", "fail"] = "rework"
    max_reworks: int = Field(2, ge=0, le=100)
    seed: int | None = None
    planned_ideal_cycle_seconds: float | None = Field(None, gt=0, description="ideal cycle time for OEE "
                                                                              "performance; default mean station "
                                                                              "time")
    label_fetch_seconds: float = Field(30.0, gt=0, description="how long the ERP waits for a label image to "
                                                               "appear at the AAdSys")
    retry_max_seconds: float = Field(5.0, gt=0, description="longest back-off between retries towards the AAdSys")
    metrics_token_file: Path | None = Field(None, description="file whose first line is the bearer token GET "
                                                              "/metrics requires; default <data_dir>/metrics-token; "
                                                              "without it /metrics refuses every request")
    metrics_oee_window_minutes: float = Field(15.0, gt=0, le=525_600, description="the window of the OEE gauges "
                                                                                  "of /metrics")
    tls_cert: Path | None = Field(None, description="PEM certificate (chain) 'serve' presents; with tls_key it "
                                                    "serves https only")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    tls_ca_file: Path | None = Field(None, description="PEM file of the CAs whose certificates the AAdSys client "
                                                       "trusts instead of the system's store (a private CA only)")

    @field_validator("aadsys_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("aadsys_url must be an http(s) URL such as http://127.0.0.1:8080")
        if problem := plain_http_problem(value, "aadsys_url"):
            raise ValueError(problem)
        return value.rstrip("/")

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

    @field_validator("station_seconds")
    @classmethod
    def _min_max(cls, value: str) -> str:
        parts = value.split(",")
        try:
            low, high = (float(p) for p in parts)
        except ValueError:
            raise ValueError("station_seconds must be 'min,max' seconds, e.g. '0.5,1.5'") from None
        if not 0 <= low <= high:
            raise ValueError("station_seconds needs 0 <= min <= max")
        return value

    @field_validator("failure_probability")
    @classmethod
    def _probabilities(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        chances = value.values() if isinstance(value, dict) else [value]
        if any(not 0 <= p <= 1 for p in chances):
            raise ValueError("failure probabilities lie in [0, 1]")
        if isinstance(value, dict) and (unknown := set(value) - set(STATIONS)):
            raise ValueError(f"unknown stations {sorted(unknown)}; the stations are {', '.join(STATIONS)}")
        return value

    @model_validator(mode="after")
    def _ideal_cycle(self) -> Settings:
        if self.planned_ideal_cycle_seconds is None:
            low, high = self.station_range
            self.planned_ideal_cycle_seconds = (low + high) / 2 or 0.001
        return self

    @property
    def station_range(self) -> tuple[float, float]:
        low, high = (float(p) for p in self.station_seconds.split(","))
        return low, high

    def failure_chance(self, station: str) -> float:
        if isinstance(self.failure_probability, dict):
            return self.failure_probability.get(station, 0.0)
        return self.failure_probability

    @property
    def ideal_cycle_seconds(self) -> float:
        assert self.planned_ideal_cycle_seconds is not None  # set by the validator
        return self.planned_ideal_cycle_seconds

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'omis_line.db'}"

    @property
    def resolved_api_key_file(self) -> Path:
        return self.api_key_file or self.data_dir / API_KEY_FILE_NAME

    @property
    def resolved_metrics_token_file(self) -> Path:
        return self.metrics_token_file or self.data_dir / "metrics-token"

    @property
    def password_hash_file(self) -> Path:
        return self.data_dir / PASSWORD_HASH_FILE_NAME

    def api_key(self) -> str:
        return self.resolved_api_key_file.read_text().strip()

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
    explicit: dict[str, Any] = init_settings()
    return Path(explicit.get("data_dir") or os.environ.get(f"{ENV_PREFIX}DATA_DIR") or DEFAULT_DATA_DIR)


def load_settings(**overrides: Any) -> Settings:
    """Settings of the line; ``None`` overrides are ignored so CLI options can pass through unset."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

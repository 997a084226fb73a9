"""Tuning of the connector: environment variables ``AADSYS_CONNECTOR_*`` and the ``[connector]`` table of
``<data-dir>/aadsys.toml``. Who the AAdSys is at the portal (portal URL, client id and secret, public URL)
belongs to the AAdSys's own settings (``aadsys.config``), since ``aadsys init`` sets it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from aadsys.config import CONFIG_FILE_NAME


class ConnectorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AADSYS_CONNECTOR_", extra="forbid")

    window: int = Field(128, ge=1, le=10_000, description="Unacknowledged deliveries per channel before the "
                                                          "provider waits (bounds memory on both sides)")
    window_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Unacknowledged payload bytes per channel "
                                                                     "before the provider waits")
    resend_after_seconds: float = Field(10.0, gt=0, description="A delivery the consumer received "
                                                                "(tier 1) this long ago but has not confirmed "
                                                                "stored (tier 2) is sent again")
    delivery_ttl_seconds: float = Field(7 * 86_400, gt=0, description="A delivery not stored by then becomes "
                                                                      "'expired', is counted and reported")
    inline_limit_bytes: int = Field(4 * 1024 * 1024, ge=0, description="Payloads above this travel as "
                                                                       "one-time links instead of inline")
    link_ttl_seconds: float = Field(300.0, gt=0, description="How long a one-time link may be used")
    poll_seconds: float = Field(5.0, gt=0, description="How often the portal is asked for subscriptions and "
                                                       "revocations, and progress is reported")
    batch_max: int = Field(256, ge=1, le=10_000, description="Most received records stored in one transaction")
    reconnect_min_seconds: float = Field(0.5, gt=0, description="First reconnect delay (then doubling, jittered)")
    reconnect_max_seconds: float = Field(30.0, gt=0, description="Longest reconnect delay")
    portal_timeout_seconds: float = Field(5.0, gt=0, description="Time limit of one request to the portal")
    clock_skew_seconds: int = Field(60, ge=0, le=600, description="Leeway when checking a grant's lifetime")
    lease_ttl_seconds: float = Field(10.0, ge=1, le=600, description="How long a worker's lease on a "
                                                                     "subscription lasts unrenewed: a killed worker's "
                                                                     "subscriptions move to another within it (+1 s)")
    events_per_second: float = Field(20.0, gt=0, description="Events a consumer may send on its channel per "
                                                             "second, beyond the burst (its 'stored' notices "
                                                             "that confirm a delivery are free)")
    events_burst: int = Field(100, ge=1, description="Events a channel may send at once before the rate counts; "
                                                     "a channel over its budget is refused 'flooded' and closed")
    handshakes_per_second: float = Field(5.0, gt=0, description="Challenges and connects one source address may "
                                                                "make per second, beyond the burst")
    handshakes_burst: int = Field(50, ge=1, description="Challenges and connects one source may make at once")
    inbound_max: int = Field(1024, ge=16, description="Records a consumer holds received and unstored per "
                                                      "channel; beyond it, it refuses them (the provider sends "
                                                      "them again later)")
    publish: list[str] | None = Field(None, description="Asset types published at the portal; default: all "
                                                        "this AAdSys holds")



def load_connector_settings(data_dir: Path, **overrides: Any) -> ConnectorSettings:
    """The connector's settings for the AAdSys in ``data_dir``: options, then environment, then the file.

    None overrides are ignored, so CLI options can pass through unset.
    """
    table = _connector_table(data_dir / CONFIG_FILE_NAME)

    class FromDataDir(ConnectorSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, InitSettingsSource(settings_cls, table)

    return FromDataDir(**{k: v for k, v in overrides.items() if v is not None})


def _connector_table(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    table = tomllib.loads(path.read_text()).get("connector", {})
    if not isinstance(table, dict):
        raise ValueError(f"[connector] in {path} must be a table")
    return table

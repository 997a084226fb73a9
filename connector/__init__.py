"""The ABM Connector: verified, encrypted peer-to-peer channels between two AAdSys (DESIGN §4, §5).

It plugs into an AAdSys as the extension ``ConnectorExtension`` (entry point group ``aadsys.extensions``):
``aadsys serve`` runs it beside gateway and core when the data directory names a portal, and ``aadsys
connector …`` offers its commands. Inside, ``connector.control`` settles with the portal and
``connector.data`` moves records; ``connector.spi`` is the seam between them.
"""

from connector._extension import ConnectorExtension
from connector._settings import ConnectorSettings, load_connector_settings
from connector.errors import (
    ConfigurationError,
    ConnectorError,
    GrantRefused,
    LinkRefused,
    PortalError,
    PortalRefused,
    PortalUnavailable,
    SealBroken,
)

__all__ = [
    "ConfigurationError",
    "ConnectorError",
    "ConnectorExtension",
    "ConnectorSettings",
    "GrantRefused",
    "LinkRefused",
    "PortalError",
    "PortalRefused",
    "PortalUnavailable",
    "SealBroken",
    "load_connector_settings",
]

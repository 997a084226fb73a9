"""``aadsys connector …``: the operator's view of the ABM Connector (typer + rich).

Each command works on the AAdSys in ``--data-dir``: its database and trust cache directly, and the portal with
the connector's own client credentials. Commands that make something print its id as their last line, and
``--json`` prints machine-readable output, so scripts can use them. A refusal ends with exit code 1 and a
message, bad input with 2; never a traceback. The work is in ``connector._operations``, imported when a
command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The ABM Connector: subscriptions, channels and transfers with partners.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="The AAdSys's data directory "
                                              "[env AADSYS_DATA_DIR; default ./data/aadsys]")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


@app.command()
def status(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Portal reachable or not; per subscription: state, window, grant expiry, seqs sent and stored, lag,
    expired deliveries; refusals by reason."""
    from connector import _operations

    _operations.status(data_dir, as_json)


@app.command()
def subscriptions(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Your organisation's subscriptions at the portal, as provider and as consumer."""
    from connector import _operations

    _operations.subscriptions(data_dir, as_json)


@app.command()
def catalog(query: Annotated[str | None, typer.Argument(help="words that must all occur")] = None,
            data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Search the portal's catalog for assets to subscribe to."""
    from connector import _operations

    _operations.catalog(query, data_dir, as_json)


@app.command()
def request(asset: Annotated[str, typer.Option(help="the portal's asset id (see `aadsys connector catalog`)")],
            mode: Annotated[str, typer.Option(help="realtime or historical")] = "realtime",
            from_: Annotated[str | None, typer.Option("--from", help="ISO 8601 with a zone [realtime: now; "
                                                                     "historical: 30 days ago]")] = None,
            to: Annotated[str | None, typer.Option(help="ISO 8601 with a zone [realtime: 30 days on; "
                                                        "historical: now]")] = None,
            data_dir: DataDir = None) -> None:
    """Ask a provider for a subscription; prints its id as the last line. The provider's admin approves."""
    from connector import _operations

    _operations.request(asset, mode, from_, to, data_dir)


@app.command()
def publish(asset_type: Annotated[list[str] | None, typer.Option("--type", help="an asset type to publish "
                                                                 "(repeatable) [default: as the connector does]")]
            = None, data_dir: DataDir = None) -> None:
    """Publish this AAdSys's asset types at the portal now (missing or changed ones; twice makes nothing new)."""
    from connector import _operations

    _operations.publish(asset_type, data_dir)


@app.command()
def transfers(data_dir: DataDir = None, watch: Annotated[bool, typer.Option(
                  help="follow running transfers with progress bars until they end")] = True,
              timeout: Annotated[float, typer.Option(help="stop following after this many seconds")] = 3600,
              as_json: AsJson = False) -> None:
    """Historical transfers, each with its progress: stored (as consumer) or confirmed (as provider) of total."""
    from connector import _operations

    _operations.transfers(data_dir, watch, timeout, as_json)

"""``aadsys connector …``: the operator's view of the ABM Connector (typer + rich).

Each command works on the AAdSys in ``--data-dir``: its database and trust cache directly, and the portal with
the connector's own client credentials. Commands that make something print its id as their last line, and every
command takes ``--json`` to print machine-readable output instead, so scripts can use them. A refusal ends with
exit code 1 and a message, bad input with 2; never a traceback. The work is in ``connector._operations``,
imported when a command runs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The ABM Connector: subscriptions, channels and transfers with partners.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


class Mode(StrEnum):
    realtime = "realtime"
    historical = "historical"


DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="The AAdSys's data directory (made by `aadsys init`); env AADSYS_DATA_DIR",
    show_default="./data/aadsys")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]


@app.command()
def status(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Portal reachable or not; per subscription: state, window, grant expiry, seqs sent and stored, lag,
    expired deliveries, and the reason of a rejection or failure; refusals by reason."""
    from connector import _operations

    _operations.status(data_dir, as_json)


@app.command()
def subscriptions(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Your organisation's subscriptions at the portal, as provider and as consumer, with the state of each
    historical transfer and the reason of a rejection."""
    from connector import _operations

    _operations.subscriptions(data_dir, as_json)


@app.command()
def catalog(query: Annotated[str | None, typer.Argument(help="words that must all occur",
                                                         show_default="everything published")] = None,
            data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Search the portal's catalog for assets to subscribe to."""
    from connector import _operations

    _operations.catalog(query, data_dir, as_json)


@app.command()
def request(asset: Annotated[str, typer.Option(help="the portal's asset id (see `aadsys connector catalog`)")],
            mode: Annotated[Mode, typer.Option(help="realtime: records as they are made; historical: records "
                                                    "made in a past window")] = Mode.realtime,
            from_: Annotated[str | None, typer.Option(
                "--from", help="start of the window, ISO 8601 with a zone, e.g. 2026-11-01T00:00:00Z",
                show_default="realtime: now; historical: 30 days before --to")] = None,
            to: Annotated[str | None, typer.Option(
                help="end of the window, ISO 8601 with a zone", show_default="realtime: 30 days after --from; "
                "historical: now")] = None,
            data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Ask a provider for a subscription; prints its id as the last line (--json: the subscription). The
    provider's admin approves it, or rejects it with a reason (see `aadsys connector subscriptions`)."""
    from connector import _operations

    _operations.request(asset, mode.value, from_, to, data_dir, as_json)


@app.command()
def publish(asset_type: Annotated[list[str] | None, typer.Option(
                "--type", help="an asset type to publish (repeatable)",
                show_default="the connector's publish setting, else every type this AAdSys holds")] = None,
            data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Publish this AAdSys's asset types at the portal now (missing or changed ones; twice makes nothing new);
    prints each type and its asset id."""
    from connector import _operations

    _operations.publish(asset_type, data_dir, as_json)


@app.command()
def transfers(data_dir: DataDir = None, watch: Annotated[bool, typer.Option(
                  help="in a terminal, follow running transfers with progress bars until they end")] = True,
              timeout: Annotated[float, typer.Option(help="stop following after this many seconds")] = 3600,
              as_json: AsJson = False) -> None:
    """Historical transfers: each one's state at the portal and at this connector, its progress (stored as
    consumer, or confirmed as provider, of total) and the reason of a failure."""
    from connector import _operations

    _operations.transfers(data_dir, watch, timeout, as_json)


@app.command()
def revoke(subscription_id: Annotated[str, typer.Argument(
               help="the subscription's id, as `aadsys connector subscriptions` prints it")],
           reason: Annotated[str | None, typer.Option(help="why, in a sentence: the consumer and the portal's audit "
                                                          "trail show it", show_default="none")] = None,
           data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """As its provider, end a subscription now: here first (its channel closes and nothing more is sent to the
    consumer, whatever the portal says later), then at the portal; while the portal cannot be reached, the running
    connector tells it every round until it accepts. Prints the id as the last line (--json: what was done)."""
    from connector import _operations

    _operations.revoke(subscription_id, reason, data_dir, as_json)

"""What ``aadsys connector …`` does (``connector.cli`` holds only the command line's shape, so that typing a
command does not first import the whole connector).

Output that can be used as it is: full ids and times (ISO 8601, UTC, to the second) that tables never cut, the
portal's own state names, "none" when there is nothing, and the reason beside a rejection or a failure. Reads
of the AAdSys's database are plain SQL (``connector._rows``), and what only some commands need (the ORM, AAS
rendering, progress bars) is imported by those commands: each answers in well under a second.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Column, Table

from aadsys.config import Settings, absent, load_settings
from aadsys.tls import client_context
from connector._home import connector_dir, read_secret
from connector._rows import MissingTable, SqliteRows, open_rows
from connector._status import collect_status, history_jobs, iso, subscription_views
from connector.data import _figures
from connector.errors import ConnectorError, PortalRefused, PortalUnavailable
from connector.spi import Role, SubscriptionView

if TYPE_CHECKING:
    from connector._rows import EngineRows
    from connector.control._portal import PortalClient

out = Console(width=max(Console().width, 132))
err = Console(stderr=True, soft_wrap=True)  # messages are never broken mid-command: the terminal wraps them
T = TypeVar("T")

DEFAULT_DAYS = 30  # a request's window when --from or --to is left out
FLOW_END_SECONDS = 3.0  # how long `revoke` waits for the running AAdSys to close the channel (it takes ≤ 1 s)
MAX_REASON = 500  # the portal's limit on a reason
HISTORICAL_SKEW = timedelta(minutes=2)  # the portal's leeway for a historical range's end (clocks differ)
FINAL_TRANSFER = ("completed", "failed")  # the portal's transfer states that end a transfer
CONNECTOR_STATES = {"running": "running", "finished": "finished, not yet reported",
                    "reported": "reported to the portal", "failed": "failed"}  # a history job's, for people
NONE = "–"
HELD_TYPES = "SELECT slug FROM asset_types"  # what `aadsys init` registered (aadsys.core.asset_types)


@dataclass
class _Member:
    settings: Settings
    _rows: SqliteRows | EngineRows | None = field(default=None, repr=False)

    def portal(self) -> PortalClient:
        from connector._settings import load_connector_settings
        from connector.control._portal import PortalClient

        s = self.settings
        assert s.portal_url and s.client_id
        tuning = load_connector_settings(s.data_dir)
        return PortalClient(s.portal_url, s.client_id, read_secret(s.client_secret_file),
                            timeout=tuning.portal_timeout_seconds, tls=client_context(s.tls_ca_file))

    def rows(self) -> SqliteRows | EngineRows:
        """Reads of the AAdSys's database, opened on first use."""
        if self._rows is None:
            url = self.settings.resolved_database_url
            try:
                self._rows = open_rows(url)
            except FileNotFoundError as exc:
                _fail(f"there is no database at {exc.args[0]}: make it with `aadsys init --data-dir "
                      f"{self.settings.data_dir} …`", 2)
        return self._rows

    def close(self) -> None:
        if self._rows is not None:
            self._rows.close()


@contextmanager
def _member(data_dir: Path | None) -> Iterator[_Member]:
    """The AAdSys in ``data_dir``, which must be a portal member (``aadsys init --portal-url …``)."""
    try:
        settings = load_settings(data_dir=data_dir)
    except ValueError as exc:
        _fail(f"invalid settings: {exc}", 2)
    where = settings.data_dir
    problem = absent(settings)
    if problem:
        _fail(problem, 2)
    if not settings.portal_url or not settings.client_id:
        _fail(f"the AAdSys in {where} is not a portal member: run `aadsys init --data-dir {where} --portal-url URL "
              "--client-id ID --client-secret-file F` first", 2)
    member = _Member(settings)
    try:
        yield member
    except ConnectorError as exc:
        _fail(str(exc), 1)
    except MissingTable as exc:
        _fail(f"the database of {where} lacks the connector's tables ({exc}): run `aadsys init --data-dir {where}` "
              "with the connector installed, or `aadsys serve` once", 2)
    finally:
        member.close()


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _with_portal(member: _Member, work: Callable[[PortalClient], Awaitable[T]]) -> T:
    async def run() -> T:
        portal = member.portal()
        try:
            return await work(portal)
        finally:
            await portal.aclose()

    return asyncio.run(run())


def _json(value: object) -> None:
    typer.echo(json.dumps(value))


def _table(*columns: str | Column, title: str | None = None) -> Table:
    """A table whose cells are never cut: ids and times stay whole, to be copied (see ``_show``)."""
    return Table(*(Column(c, no_wrap=True) if isinstance(c, str) else c for c in columns), title=title,
                 title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 collapse_padding=True)


def _reason_column() -> Column:
    return Column("reason", max_width=60, overflow="fold")  # prose may wrap; nothing else does


def _show(table: Table, empty: str) -> None:
    """``table`` as wide as it needs (a terminal narrower than that wraps lines, never cuts a cell); ``empty``
    instead when it has no rows."""
    if not table.rows:
        out.print(empty, highlight=False)
        return
    width, out.width = out.width, Measurement.get(out, out.options.update_width(10_000), table).maximum
    try:
        out.print(table, crop=False)
    finally:
        out.width = width


def _when(value: str | None) -> str:
    """An ISO 8601 time as this CLI shows every time: UTC, to the second, ``2026-11-22T14:00:00Z``."""
    if not value:
        return NONE
    return _second(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _second(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: object) -> str:
    return NONE if value is None else str(value)


# -- status -----------------------------------------------------------------------------------------------------

def status(data_dir: Path | None, as_json: bool) -> None:
    from connector._identity import load_or_create
    from connector.control._trust import TrustStore

    with _member(data_dir) as member:
        s = member.settings
        identity = load_or_create(connector_dir(s.data_dir))
        reachable = _with_portal(member, lambda portal: portal.reachable())
        report = collect_status(s, member.rows(), TrustStore(connector_dir(s.data_dir) / "trust.json").trust,
                                identity, portal_reachable=reachable)
    if as_json:
        _json(report)
        return
    portal = report["portal"]
    out.print(f"[bold]{report['org']}[/bold] at {report['publicUrl']} · portal {portal['url']} "
              + ("[green]reachable[/green]" if portal["reachable"] else "[red]unreachable[/red]"), highlight=False)
    table = _table("subscription", "role", "peer", "asset type", "mode", "state", "window", "grant until", "sent",
                   "stored", "lag", "expired", _reason_column(), title="subscriptions")
    for sub in report["subscriptions"]:
        history = sub.get("history") or {}
        here = sub.get("revokedHere") or {}
        reasons = [sub["reason"], history.get("reason") and f"transfer {history['state']}: {history['reason']}",
                   here and ("revoked here" if here["portalToldAt"] else "revoked here, not yet told to the portal")]
        table.add_row(sub["id"], sub["role"], sub["peer"], sub["assetType"], sub["mode"], sub["state"],
                      f"{_when(sub['validFrom'])}\n{_when(sub['validTo'])}", _when(sub["grantExpiresAt"]),
                      _number(sub.get("lastSeqSent")), _number(sub["lastSeqStored"]), _number(sub.get("lag")),
                      _number(sub.get("expired")), "; ".join(r for r in reasons if r) or NONE)
    _show(table, "subscriptions: none")
    refused = report["refused"]
    out.print("refused: " + (", ".join(f"{code} {n}" for code, n in sorted(refused.items())) or "none"),
              highlight=False)


# -- subscriptions ----------------------------------------------------------------------------------------------

def subscriptions(data_dir: Path | None, as_json: bool) -> None:
    with _member(data_dir) as member:
        try:
            items = _with_portal(member, lambda portal: portal.subscriptions())
        except PortalUnavailable as exc:
            err.print(f"[yellow]{exc}; showing what this connector last saw[/yellow]", highlight=False)
            items = [_local(view, peer, reason) for view, peer, reason in subscription_views(member.rows())]
    if as_json:
        _json(items)
        return
    table = _table("id", "asset type", "provider", "consumer", "mode", "state", "valid from", "valid to", "transfer",
                   _reason_column())
    for item in items:
        transfer = item.get("transfer") or {}
        table.add_row(item["id"], item["assetType"], item.get("providerName", ""), item.get("consumerName", ""),
                      item["mode"], item["state"], _when(item["validFrom"]), _when(item["validTo"]),
                      transfer.get("state") or NONE, item.get("reason") or transfer.get("reason") or NONE)
    _show(table, "subscriptions: none (ask for one with `aadsys connector request`)")


def _local(view: SubscriptionView, peer: str, reason: str | None) -> dict[str, Any]:
    provider, consumer = (peer, "us") if view.role is Role.CONSUMER else ("us", peer)
    return {"id": view.id, "assetType": view.asset_type, "providerName": provider, "consumerName": consumer,
            "mode": view.mode.value, "state": view.state.value, "validFrom": iso(view.valid_from),
            "validTo": iso(view.valid_to), "reason": reason}


# -- catalog ----------------------------------------------------------------------------------------------------

def catalog(query: str | None, data_dir: Path | None, as_json: bool) -> None:
    with _member(data_dir) as member:
        items = _with_portal(member, lambda portal: portal.assets(q=query))
    if as_json:
        _json(items)
        return
    table = _table("asset id", "publisher", "asset type", "name")
    for item in items:
        table.add_row(item["id"], item["orgName"], item["assetType"], item["name"])
    _show(table, f"catalog: none matches '{query}'" if query else "catalog: none (nothing is published yet)")


# -- request ----------------------------------------------------------------------------------------------------

def request(asset: str, mode: str, from_: str | None, to: str | None, data_dir: Path | None, as_json: bool) -> None:
    start, end, defaults = request_window(mode, _time(from_, "--from"), _time(to, "--to"), datetime.now(UTC))
    with _member(data_dir) as member:
        try:
            made = _with_portal(member, lambda portal: portal.request_subscription(asset, mode, start, end))
        except PortalRefused as exc:
            if exc.status == 404:
                _fail(f"the portal has no asset {asset}; find its id with `aadsys connector catalog`", 1)
            raise
    err.print(f"requested a {mode} subscription to {made['assetName']} from {made['providerName']}, "
              f"{_when(made['validFrom'])} to {_when(made['validTo'])}{defaults}: {made['state']}", highlight=False)
    if as_json:
        _json(made)
    else:
        typer.echo(made["id"])


def request_window(mode: str, start: datetime | None, end: datetime | None, now: datetime
                   ) -> tuple[datetime, datetime, str]:
    """The window asked for: what was given, the rest by default (realtime: from now for 30 days; historical: the
    30 days up to now), and a note of the defaults taken. A window the portal would refuse exits 2 here, in the
    words of the flags."""
    now = now.replace(microsecond=0)
    taken = []
    if mode == "realtime":
        if start is None:
            start = now
            taken.append("--from now")
        if end is None:
            end = start + timedelta(days=DEFAULT_DAYS)
            taken.append(f"--to {DEFAULT_DAYS} days after --from")
    else:
        if end is None:
            end = now
            taken.append("--to now")
        if start is None:
            start = end - timedelta(days=DEFAULT_DAYS)
            taken.append(f"--from {DEFAULT_DAYS} days before --to")
    given = f" (by default {' and '.join(taken)})" if taken else ""
    if mode == "realtime" and end <= now:
        _fail(f"--to {_second(end)} lies in the past: a real-time subscription is for records still to come; give "
              "a later --to, or --mode historical for past records", 2)
    if mode == "historical" and end > now + HISTORICAL_SKEW:
        _fail(f"--to {_second(end)} lies in the future: a historical subscription covers past records; give --to "
              "now or earlier, or --mode realtime for records still to come", 2)
    if end <= start:
        relation = "is after" if start > end else "is the same time as"
        _fail(f"--from {_second(start)} {relation} --to {_second(end)}{given}: give a --from earlier than --to", 2)
    return start, end, given


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{option} '{value}' is not an ISO 8601 time such as 2026-11-22T14:00:00Z", 2)
    if moment.tzinfo is None:
        _fail(f"{option} '{value}' needs a time zone, e.g. 2026-11-22T14:00:00Z", 2)
    return moment.astimezone(UTC)


# -- publish ----------------------------------------------------------------------------------------------------

def publish(asset_type: list[str] | None, data_dir: Path | None, as_json: bool) -> None:
    from aas_models import Owner
    from connector._settings import load_connector_settings
    from connector.control._publishing import publish_asset_types

    with _member(data_dir) as member:
        s = member.settings
        tuning = load_connector_settings(s.data_dir)
        held = frozenset(slug for (slug,) in member.rows().all(HELD_TYPES))
        slugs = frozenset(asset_type or tuning.publish or held)
        unknown = sorted(slugs - held)
        if unknown:
            _fail(f"this AAdSys holds no {', '.join(unknown)}; choose from {', '.join(sorted(held))}", 2)

        async def work(portal: PortalClient) -> dict[str, str]:
            return await publish_asset_types(portal, Owner(s.org, s.base_iri), await portal.own_org_id(), slugs)

        ids = _with_portal(member, work)
    if as_json:
        _json(ids)
        return
    for slug, asset_id in ids.items():
        typer.echo(f"{slug} {asset_id}")


# -- transfers --------------------------------------------------------------------------------------------------

def transfers(data_dir: Path | None, watch: bool, timeout: float, as_json: bool) -> None:
    with _member(data_dir) as member:
        if as_json or not watch or not out.is_terminal:
            rows = _transfers(member, _with_portal(member, _portal_transfers))
            if as_json:
                _json(rows)
                return
            table = _table("subscription", "role", "state", "this connector", "done", _reason_column())
            for row in rows:
                table.add_row(row["subscription"], row["role"], row["state"] or "unknown",
                              CONNECTOR_STATES.get(row["connectorState"], row["connectorState"]), _progress(row),
                              row["reason"] or NONE)
            _show(table, "transfers: none (a historical subscription makes one once approved)")
            return
        asyncio.run(_follow(member, timeout))


async def _portal_transfers(portal: PortalClient) -> dict[str, dict[str, Any]] | None:
    """The portal's transfer job of each historical subscription of ours; None while the portal is unreachable."""
    try:
        return {s["id"]: s["transfer"] for s in await portal.subscriptions() if s.get("transfer")}
    except PortalUnavailable as exc:
        err.print(f"[yellow]{exc}; the transfers' state at the portal is unknown[/yellow]", highlight=False)
        return None


def _transfers(member: _Member, at_portal: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Each historical transfer: the portal's state (``state``, as the portal shows it; None when unknown) and this
    connector's (``connectorState``), with what is done of the total: stored (consumer) or confirmed (provider)."""
    rows = member.rows()
    found = []
    for sub_id, job in history_jobs(rows).items():
        done = (_figures.consumer(rows, sub_id).stored if job["role"] == Role.CONSUMER
                else _figures.provider(rows, sub_id).stored)
        transfer = (at_portal or {}).get(sub_id) or {}
        found.append({"subscription": sub_id, "role": job["role"], "state": transfer.get("state"),
                      "connectorState": job["state"], "done": done, "total": job["total"], "count": job["count"],
                      "digest": job["digest"], "reason": transfer.get("reason") or job["reason"],
                      "transfer": transfer.get("id")})
    return found


def _progress(row: dict[str, Any]) -> str:
    return f"{row['done']}/{_number(row['total'])}"


def _ended(row: dict[str, Any]) -> bool:
    if row["state"] is not None:
        return row["state"] in FINAL_TRANSFER
    return row["connectorState"] in ("reported", "failed")


async def _follow(member: _Member, timeout: float) -> None:
    """Progress bars until every transfer ended at the portal (or ``timeout``); the portal asked every second."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"),
               TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    portal = member.portal()
    try:
        with Progress(*columns, console=out) as progress:
            tasks: dict[str, Any] = {}
            while True:
                rows = _transfers(member, await _portal_transfers(portal))
                if not rows:
                    out.print("transfers: none (a historical subscription makes one once approved)")
                for row in rows:
                    key = row["subscription"]
                    state = f"{row['state'] or 'unknown'} ({CONNECTOR_STATES.get(row['connectorState'], '')})"
                    if key not in tasks:
                        tasks[key] = progress.add_task(f"{key} {row['role']}", total=row["total"], state=state)
                    progress.update(tasks[key], completed=row["done"], total=row["total"], state=state)
                if all(_ended(row) for row in rows) or time.monotonic() > deadline:
                    return
                await asyncio.sleep(1)
    finally:
        await portal.aclose()


# -- revoke -----------------------------------------------------------------------------------------------------

def revoke(subscription_id: str, reason: str | None, data_dir: Path | None, as_json: bool) -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError
    from sqlalchemy.pool import NullPool

    from aadsys.core.db import make_engine
    from connector import _revoking

    why = (reason or "").strip() or None
    if why is not None and len(why) > MAX_REASON:
        _fail(f"--reason has {len(why)} characters; the portal keeps at most {MAX_REASON}: shorten it", 2)
    with _member(data_dir) as member:
        where = member.settings.data_dir
        engine = make_engine(member.settings.resolved_database_url, immediate=True, poolclass=NullPool)
        try:
            try:
                local = _revoking.revoke_here(engine, subscription_id, why, datetime.now(UTC))
                closed = _flow_ended(engine, subscription_id)
            except _revoking.RevocationRefused as exc:
                _fail(str(exc), exc.status)
            except (OperationalError, ProgrammingError) as exc:
                _fail(f"the database of {where} cannot record a revocation ({str(exc.orig).splitlines()[0]}): "
                      f"bring its schema up to date with `aadsys init --data-dir {where}` or `aadsys serve` once", 2)
            portal: dict[str, Any] = {"told": local.told, "state": "revoked" if local.told else None, "error": None}
            if not local.told:
                try:
                    portal["state"] = _with_portal(member, lambda client: _revoking.tell_portal(
                        client, subscription_id, local.reason))
                    portal["told"] = True
                    _revoking.told(engine, subscription_id, datetime.now(UTC))
                except (PortalUnavailable, PortalRefused) as exc:
                    portal["error"] = str(exc)
        finally:
            engine.dispose()
    done = {"id": subscription_id, "state": "revoked", "revokedAt": iso(local.revoked_at) if local.revoked_at else None,
            "reason": local.reason, "consumer": local.peer, "revokedBefore": local.already, "channelClosed": closed,
            "portal": portal}
    if as_json:
        _json(done)
        return
    when = "was revoked here already" if local.already else "is revoked here"
    err.print(f"subscription {subscription_id} of {local.peer} {when}: "
              + ("its channel is closed, nothing more is sent" if closed else
                 "nothing more is sent; the running AAdSys has not closed its channel yet (it does within seconds)"),
              highlight=False)
    if portal["told"]:
        err.print(f"the portal has it too: {portal['state']}", highlight=False)
    else:
        err.print(f"[yellow]the portal does not have it yet: {portal['error']}; the running connector tells it "
                  "each round until it accepts[/yellow]", highlight=False)
    typer.echo(subscription_id)


def _flow_ended(engine: Any, subscription_id: str) -> bool:
    """Whether the running AAdSys has ended the subscription's channel, waiting ``FLOW_END_SECONDS`` at most."""
    from connector import _revoking

    deadline = time.monotonic() + FLOW_END_SECONDS
    while not _revoking.flow_ended(engine, subscription_id, datetime.now(UTC)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

"""What ``aadsys connector …`` does (``connector.cli`` holds only the command line's shape, so that typing a
command does not first import the whole connector)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from aadsys.config import Settings, load_settings
from aadsys.core.db import Database
from aadsys.core.instances import InstanceService
from aadsys.tls import client_context
from aas_models import Owner
from connector._connector import connector_dir, read_secret
from connector._identity import load_or_create
from connector._refusals import Refusals
from connector._settings import load_connector_settings
from connector._status import collect_status
from connector.control._ledger import Ledger
from connector.control._plane import publish_asset_types
from connector.control._portal import PortalClient
from connector.control._trust import TrustStore
from connector.data import _received
from connector.data._history import HistoryJobs
from connector.data._outbox import provider_figures
from connector.data._states import HistoryState
from connector.errors import ConnectorError, PortalUnavailable
from connector.spi import Role

out = Console(width=max(Console().width, 132))  # tables stay readable in logs and pipes
err = Console(stderr=True)
T = TypeVar("T")

FINAL_HISTORY = (HistoryState.FINISHED.value, HistoryState.REPORTED.value, HistoryState.FAILED.value)


@dataclass
class _Member:
    settings: Settings
    db: Database

    def portal(self) -> PortalClient:
        s = self.settings
        assert s.portal_url and s.client_id
        tuning = load_connector_settings(s.data_dir)
        return PortalClient(s.portal_url, s.client_id, read_secret(s.client_secret_file),
                            timeout=tuning.portal_timeout_seconds, tls=client_context(s.tls_ca_file))


@contextmanager
def _member(data_dir: Path | None) -> Iterator[_Member]:
    """The AAdSys in ``data_dir``, which must be a portal member (``aadsys init --portal-url …``)."""
    try:
        settings = load_settings(data_dir=data_dir)
    except ValueError as exc:
        _fail(f"invalid settings: {exc}", 2)
    if not settings.portal_url or not settings.client_id:
        _fail(f"the AAdSys in {settings.data_dir} is not a portal member: run `aadsys init --portal-url URL "
              "--client-id ID --client-secret-file F` first", 2)
    db = Database(settings.resolved_database_url)
    try:
        yield _Member(settings, db)
    except ConnectorError as exc:
        _fail(str(exc), 1)
    finally:
        db.dispose()


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


def _minute(moment: str | None) -> str:
    return moment[:16].replace("T", " ") if moment else "–"


def status(data_dir: Path | None, as_json: bool) -> None:
    with _member(data_dir) as member:
        s = member.settings
        identity = load_or_create(connector_dir(s.data_dir))
        reachable = _with_portal(member, lambda portal: portal.reachable())
        report = collect_status(s, Ledger(member.db), HistoryJobs(member.db), Refusals(member.db),
                                TrustStore(connector_dir(s.data_dir) / "trust.json"), identity,
                                portal_reachable=reachable)
    if as_json:
        typer.echo(json.dumps(report))
        return
    portal = report["portal"]
    out.print(f"[bold]{report['org']}[/bold] at {report['publicUrl']} · portal {portal['url']} "
              + ("[green]reachable[/green]" if portal["reachable"] else "[red]unreachable[/red]"))
    table = Table(*(Column(name, no_wrap=True) for name in (
        "id", "role", "peer", "asset type", "mode", "state", "window (UTC)", "grant until", "sent", "stored", "lag",
        "expired")), title="subscriptions", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for sub in report["subscriptions"]:
        table.add_row(sub["id"][:8], sub["role"], sub["peer"], sub["assetType"], sub["mode"], sub["state"],
                      f"{_minute(sub['validFrom'])}\n{_minute(sub['validTo'])}",
                      _minute(sub["grantExpiresAt"]).replace(" ", "\n"), str(sub.get("lastSeqSent", "–")),
                      str(sub["lastSeqStored"]), str(sub.get("lag", "–")), str(sub.get("expired", "–")))
    out.print(table)
    refused = report["refused"]
    out.print("refused: " + (", ".join(f"{code} {n}" for code, n in sorted(refused.items())) or "none"))


def subscriptions(data_dir: Path | None, as_json: bool) -> None:
    with _member(data_dir) as member:
        try:
            items = _with_portal(member, lambda portal: portal.subscriptions())
        except PortalUnavailable as exc:
            err.print(f"[yellow]{exc}; showing what this connector last saw[/yellow]")
            items = [_local(row) for row in Ledger(member.db).rows()]
    if as_json:
        typer.echo(json.dumps(items))
        return
    table = Table("id", "asset type", "provider", "consumer", "mode", "state", "valid from", "valid to")
    for item in items:
        table.add_row(item["id"], item["assetType"], item.get("providerName", ""), item.get("consumerName", ""),
                      item["mode"], item["state"], item["validFrom"][:19], item["validTo"][:19])
    out.print(table)


def _local(row: Any) -> dict[str, Any]:
    provider, consumer = (row.peer_name, "us") if row.role == Role.CONSUMER else ("us", row.peer_name)
    return {"id": row.id, "assetType": row.asset_type, "providerName": provider, "consumerName": consumer,
            "mode": row.mode, "state": row.state, "validFrom": row.valid_from.isoformat(),
            "validTo": row.valid_to.isoformat()}


def catalog(query: str | None, data_dir: Path | None, as_json: bool) -> None:
    with _member(data_dir) as member:
        items = _with_portal(member, lambda portal: portal.assets(q=query))
    if as_json:
        typer.echo(json.dumps(items))
        return
    table = Table("asset id", "publisher", "asset type", "name")
    for item in items:
        table.add_row(item["id"], item["orgName"], item["assetType"], item["name"])
    out.print(table)


def request(asset: str, mode: str, from_: str | None, to: str | None, data_dir: Path | None) -> None:
    if mode not in ("realtime", "historical"):
        _fail("--mode is realtime or historical", 2)
    now = datetime.now(UTC).replace(microsecond=0)
    start = _time(from_, "--from") or (now if mode == "realtime" else now - timedelta(days=30))
    end = _time(to, "--to") or (now + timedelta(days=30) if mode == "realtime" else now)
    with _member(data_dir) as member:
        made = _with_portal(member, lambda portal: portal.request_subscription(asset, mode, start, end))
    err.print(f"requested a {mode} subscription to {made['assetName']} from {made['providerName']}, "
              f"{made['validFrom']} to {made['validTo']}: {made['state']}")
    typer.echo(made["id"])


def publish(asset_type: list[str] | None, data_dir: Path | None) -> None:
    with _member(data_dir) as member:
        s = member.settings
        tuning = load_connector_settings(s.data_dir)
        held = InstanceService(member.db, Owner(s.org, s.base_iri)).registered_slugs()
        slugs = frozenset(asset_type or tuning.publish or held)
        unknown = sorted(slugs - held)
        if unknown:
            _fail(f"this AAdSys holds no {', '.join(unknown)}; choose from {', '.join(sorted(held))}", 2)

        async def work(portal: PortalClient) -> dict[str, str]:
            return await publish_asset_types(portal, Owner(s.org, s.base_iri), await portal.own_org_id(), slugs)

        ids = _with_portal(member, work)
    for slug, asset_id in ids.items():
        typer.echo(f"{slug} {asset_id}")


def transfers(data_dir: Path | None, watch: bool, timeout: float, as_json: bool) -> None:
    with _member(data_dir) as member:
        jobs = HistoryJobs(member.db)

        def snapshot() -> list[dict[str, Any]]:
            rows = []
            for job in jobs.all():
                done = (_received.figures(member.db, job.subscription_id).stored if job.role == Role.CONSUMER
                        else provider_figures(member.db, job.subscription_id).stored)
                rows.append({"subscription": job.subscription_id, "role": job.role, "state": job.state,
                             "done": done, "total": job.total, "count": job.count, "digest": job.digest,
                             "reason": job.reason})
            return rows

        if as_json or not watch or not out.is_terminal:
            rows = snapshot()
            if as_json:
                typer.echo(json.dumps(rows))
            else:
                for row in rows:
                    typer.echo(f"{row['subscription']} {row['role']} {row['state']} {row['done']}/"
                               f"{row['total'] if row['total'] is not None else '?'}")
            return
        _follow(snapshot, timeout)


def _follow(snapshot: Callable[[], list[dict[str, Any]]], timeout: float) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"),
               TimeElapsedColumn())
    deadline = time.monotonic() + timeout
    with Progress(*columns, console=out) as progress:
        tasks: dict[str, Any] = {}
        while True:
            rows = snapshot()
            for row in rows:
                key = row["subscription"]
                if key not in tasks:
                    tasks[key] = progress.add_task(f"{key[:8]} {row['role']}", total=row["total"], state=row["state"])
                progress.update(tasks[key], completed=row["done"], total=row["total"], state=row["state"])
            if all(row["state"] in FINAL_HISTORY for row in rows) or time.monotonic() > deadline:
                return
            time.sleep(0.5)

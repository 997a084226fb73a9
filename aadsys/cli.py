"""The ``aadsys`` command line: set up, run and operate one AAdSys."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aadsys.config import Settings, absent, load_settings, write_config_file
from aadsys.extensions import discover, migration_branches

# Heavier parts (SQLAlchemy, alembic, basyx) are imported by the commands that need them: `aadsys keys list`
# or `aadsys connector status` should answer in a second, not after importing the whole product.

app = typer.Typer(help="AAdSys: an enterprise's Asset Administration System (gateway, core, connector).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="API keys for internal clients (ERP, e-shop, scripts).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
bench_app = typer.Typer(help="Benchmarks of whole AAdSys processes on loopback.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
err = Console(stderr=True, soft_wrap=True)  # messages are never broken mid-command: the terminal wraps them

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Holds the database, files and aadsys.toml; env "
                                              "AADSYS_DATA_DIR", show_default="./data/aadsys")]


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(data_dir=data_dir, **overrides)
    except ValueError as exc:
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from None


def _existing(data_dir: Path | None) -> Settings:
    """The settings of an AAdSys that ``aadsys init`` made; exit 2 naming the data directory otherwise."""
    settings = _settings(data_dir)
    problem = absent(settings)
    if problem:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
        raise typer.Exit(2)
    return settings


def prepare(settings: Settings) -> None:
    """Migrate the schema (the core's and every installed extension's) and register the asset types: safe to
    repeat."""
    from aadsys.core.asset_types import register_asset_types
    from aadsys.core.db import Database, migrate
    from aas_models import Owner

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url, branches=migration_branches())
    db = Database(settings.resolved_database_url)
    try:
        register_asset_types(db, Owner(org=settings.org, base_iri=settings.base_iri))
    finally:
        db.dispose()


@app.command()
def init(
    data_dir: DataDir = None,
    org: Annotated[str, typer.Option(help="organisation slug, e.g. pec")] = ...,  # type: ignore[assignment]
    base_iri: Annotated[str, typer.Option("--base-iri", help="base of every id, e.g. https://pec.example")] = ...,  # type: ignore[assignment]
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
    portal_url: Annotated[str | None, typer.Option(help="the ABM Portal, e.g. https://portal.example; "
                                                        "with it, the connector runs")] = None,
    client_id: Annotated[str | None, typer.Option(help="the connector's client id at the portal")] = None,
    client_secret_file: Annotated[Path | None, typer.Option(
        help="file whose first line is the connector's client secret ('-': stdin); copied into the data dir "
             "with mode 0600")] = None,
    public_url: Annotated[str | None, typer.Option(help="where partners' connectors reach this AAdSys",
                                                   show_default="http://<host>:<port>")] = None,
) -> None:
    """Make the data directory and database, run the migrations, register the asset types."""
    if portal_url and not (client_id and client_secret_file):
        err.print("[red]--portal-url needs --client-id and --client-secret-file[/red] (from `abm-portal org create` "
                  "or the portal's organisation page)")
        raise typer.Exit(2)
    settings = _settings(data_dir, org=org, base_iri=base_iri, database_url=database_url, portal_url=portal_url,
                         client_id=client_id, public_url=public_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if client_secret_file is not None:
        settings = settings.model_copy(update={
            "client_secret_file": _keep_secret(client_secret_file, settings.data_dir / "client-secret")})
    path = write_config_file(settings)
    prepare(settings)
    typer.echo(f"initialised AAdSys '{settings.org}' in {settings.data_dir} (config {path})")


def _log_to_console(names: list[str]) -> None:
    """Our own loggers at INFO beside uvicorn's; libraries stay at WARNING (httpx logs every request at INFO)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)-9s %(name)s: %(message)s")
    for name in names:
        logging.getLogger(name).setLevel(logging.INFO)


def _keep_secret(source: Path, target: Path) -> Path:
    """Copy the first line of ``source`` (or stdin) to ``target``, readable by its owner only."""
    try:
        secret = (sys.stdin.readline() if str(source) == "-" else source.read_text()).strip().splitlines()[0]
    except (OSError, IndexError):
        err.print(f"[red]cannot read a client secret from {source}[/red]")
        raise typer.Exit(2) from None
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    os.chmod(target, 0o600)
    return target.resolve()


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="listen address", show_default="127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="listen port", show_default="8080")] = None,
) -> None:
    """Run gateway, core and connector in one process (migrates the database first)."""
    import uvicorn

    from aadsys.gateway.app import create_app

    settings = _settings(data_dir, host=host, port=port)
    prepare(settings)
    _log_to_console(["aadsys", *(extension.name for extension in discover())])
    typer.echo(f"AAdSys '{settings.org}' on http://{settings.host}:{settings.port}  (OpenAPI: /docs)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                access_log=settings.access_log, ws_per_message_deflate=False)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who uses the key, e.g. erp or e-shop")],
    scope: Annotated[list[str], typer.Option(help="read and/or write (repeatable); write includes read")],
    data_dir: DataDir = None,
) -> None:
    """Make an API key; it is printed once, as the last line."""
    from aadsys.core import api_keys
    from aadsys.core.db import Database

    settings = _existing(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        key = api_keys.create_key(db, name, scope)
    except api_keys.ApiKeyError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    err.print(f"API key '{name}' with scopes {', '.join(sorted(set(scope)))}: store it now, it is not shown again")
    typer.echo(key)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List API keys (names and scopes; never the secrets)."""
    from aadsys.core import api_keys
    from aadsys.core.db import Database

    settings = _existing(data_dir)
    db = Database(settings.resolved_database_url)
    table = Table("name", "id", "scopes", "created", "revoked")
    for row in api_keys.list_keys(db):
        table.add_row(row.name, row.id, ",".join(row.scopes), f"{row.created_at:%Y-%m-%d %H:%M}",
                      f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "")
    db.dispose()
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Option(help="the key's name")], data_dir: DataDir = None) -> None:
    """Revoke an API key at once."""
    from aadsys.core import api_keys
    from aadsys.core.db import Database

    settings = _existing(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        api_keys.revoke_key(db, name)
    except api_keys.ApiKeyError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    typer.echo(f"revoked '{name}'")


@app.command()
def export(
    asset_type: Annotated[str, typer.Option("--type", help="asset type slug, e.g. sales-order")],
    start: Annotated[str, typer.Option("--from", help="created at or after, ISO 8601 (2026-11-01 or "
                                       "2026-11-01T08:00:00Z; no offset: UTC)")],
    end: Annotated[str, typer.Option("--to", help="created at or before, ISO 8601; a bare date is the whole day")],
    out: Annotated[Path, typer.Option("--out", help="the AASX package to write, e.g. orders.aasx")],
    data_dir: DataDir = None,
) -> None:
    """Write the records of one asset type created in a date range as an AASX package, their files included."""
    from aadsys.export import ExportError, export_instances, parse_moment

    settings = _existing(data_dir)
    try:
        count = export_instances(settings, asset_type, parse_moment(start, "--from"),
                                 parse_moment(end, "--to", end_of_day=True), out, err)
    except ExportError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]cannot write {out}: {exc.strerror or exc}[/red]")
        raise typer.Exit(2) from None
    typer.echo(f"wrote {count} {asset_type} record(s) to {out}")


# What every ``aadsys bench`` command takes
JsonOut = Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here")]
PecDatabase = Annotated[str | None, typer.Option(help="PEC's database", show_default="SQLite in its data dir")]
OmisDatabase = Annotated[str | None, typer.Option(help="OMIS's database", show_default="SQLite in its data dir")]
KeepDir = Annotated[Path | None, typer.Option(help="Keep the processes' data dirs and logs here")]


def _bench_console() -> Console:
    return Console(width=max(Console().width, 132))  # the tables stay whole in logs


@bench_app.command("connectivity")
def bench_connectivity(
    runs: Annotated[int, typer.Option(min=1, max=100_000, help="Sequential runs per direction")] = 1000,
    size: Annotated[str, typer.Option(help="AAS JSON per record, e.g. 100KB, 2KB, 1.5MB")] = "100KB",
    warmup: Annotated[int, typer.Option(min=0, max=1000, help="Runs per direction before measuring")] = 5,
    json_path: JsonOut = None,
    plot_path: Annotated[Path | None, typer.Option("--plot", help="Write a latency CDF and histogram (PNG)")] = None,
    pec_database_url: PecDatabase = None,
    omis_database_url: OmisDatabase = None,
    keep: KeepDir = None,
) -> None:
    """The paper's 1000-run test: a record each run, PEC → OMIS and OMIS → PEC, against a websocket floor."""
    from aadsys.benchmark import connectivity
    from aadsys.benchmark.records import parse_size

    try:
        size_bytes = parse_size(size)
    except ValueError as exc:
        err.print(f"[red]--size: {exc}[/red]")
        raise typer.Exit(2) from None
    code = connectivity.run(runs=runs, size=size_bytes, warmup=warmup, database_urls=(pec_database_url,
                            omis_database_url), json_path=json_path, plot_path=plot_path, keep=keep,
                            console=_bench_console())
    raise typer.Exit(code)


@bench_app.command("throughput")
def bench_throughput(
    count: Annotated[int, typer.Option(min=1, max=1_000_000, help="Sales Orders to post in all")] = 5000,
    producers: Annotated[int, typer.Option(min=1, max=256, help="Concurrent producers posting to PEC")] = 8,
    seconds: Annotated[float, typer.Option(min=1, max=3600, help="Stop posting after this long; the run then "
                                           "waits for what was posted")] = 120,
    json_path: JsonOut = None,
    pec_database_url: PecDatabase = None,
    omis_database_url: OmisDatabase = None,
    keep: KeepDir = None,
) -> None:
    """Real-time Sales Orders PEC → OMIS under load: stored per second at OMIS, and latency under that load."""
    from aadsys.benchmark import throughput

    code = throughput.run(count=count, producers=producers, seconds=seconds,
                          database_urls=(pec_database_url, omis_database_url), json_path=json_path, keep=keep,
                          console=_bench_console())
    raise typer.Exit(code)


@bench_app.command("history")
def bench_history(
    sizes: Annotated[str, typer.Option(help="Comma-separated counts of stored Sales Orders to replay, each in a "
                                       "fresh run, e.g. 10000,100000")] = "10000,100000",
    seconds: Annotated[float, typer.Option(min=10, max=24 * 3600, help="Give up on a replay after this long")] = 1800,
    json_path: JsonOut = None,
    pec_database_url: PecDatabase = None,
    omis_database_url: OmisDatabase = None,
    keep: KeepDir = None,
) -> None:
    """A historical replay of Sales Orders stored at PEC, to OMIS: instances per second and peak memory."""
    from aadsys.benchmark import history

    try:
        counts = history.parse_sizes(sizes)
    except ValueError as exc:
        err.print(f"[red]--sizes: {exc}[/red]")
        raise typer.Exit(2) from None
    if (pec_database_url or omis_database_url) and len(counts) > 1:
        err.print("[red]--sizes: with a --pec-database-url or --omis-database-url, give one size per run (each size "
                  "needs empty databases)[/red]")
        raise typer.Exit(2)
    code = history.run(sizes=counts, seconds=seconds, database_urls=(pec_database_url, omis_database_url),
                       json_path=json_path, keep=keep, console=_bench_console())
    raise typer.Exit(code)


for _extension in discover():
    _commands = _extension.commands()
    if _commands is not None:
        app.add_typer(_commands, name=_extension.name)

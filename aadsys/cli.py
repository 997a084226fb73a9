"""The ``aadsys`` command line: set up, run and operate one AAdSys."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aadsys.config import Settings, absent, load_settings, write_config_file
from aadsys.extensions import discover, migration_branches
from aadsys.tls import server_files_problem

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
TlsCert = Annotated[Path | None, typer.Option(help="PEM certificate (chain) to serve https/wss with, e.g. from "
                                              "`aadsys certs`; env AADSYS_TLS_CERT")]
TlsKey = Annotated[Path | None, typer.Option(help="its PEM private key; env AADSYS_TLS_KEY")]


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(data_dir=data_dir, **overrides)
    except ValueError as exc:
        err.print(f"[red]invalid settings:[/red] {escape(str(exc))}", highlight=False)
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
                                                   show_default="http(s)://<host>:<port>")] = None,
    tls_ca_file: Annotated[Path | None, typer.Option(help="PEM file of the CAs the connector and the CLI trust "
                                                          "instead of the system's store (a private CA only, "
                                                          "e.g. the ca.pem of `aadsys certs`)")] = None,
) -> None:
    """Make the data directory and database, run the migrations, register the asset types."""
    if portal_url and not (client_id and client_secret_file):
        err.print("[red]--portal-url needs --client-id and --client-secret-file[/red] (from `abm-portal org create` "
                  "or the portal's organisation page)")
        raise typer.Exit(2)
    settings = _settings(data_dir, org=org, base_iri=base_iri, database_url=database_url, portal_url=portal_url,
                         client_id=client_id, public_url=public_url,
                         tls_ca_file=tls_ca_file.resolve() if tls_ca_file else None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if client_secret_file is not None:
        settings = settings.model_copy(update={
            "client_secret_file": _keep_secret(client_secret_file, settings.data_dir / "client-secret")})
    path = write_config_file(settings)
    prepare(settings)
    typer.echo(f"initialised AAdSys '{settings.org}' in {settings.data_dir} (config {path})")


def _log_config(names: list[str]) -> dict[str, Any]:
    """uvicorn's logging, plus our own loggers at INFO (libraries stay at WARNING: httpx logs every request at INFO);
    every worker process configures itself from it."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"].update({name: {"handlers": ["default"], "level": "INFO", "propagate": False} for name in names})
    return config


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
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="worker processes; more than one needs "
                                                                    "PostgreSQL", show_default="1")] = None,
) -> None:
    """Run gateway, core and connector (migrates the database first); with --workers, that many processes, which
    share the work through the database."""
    from aadsys.gateway.server import serve as run_server

    settings = _settings(data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, workers=workers)
    if settings.tls_cert and settings.tls_key and (problem := server_files_problem(settings.tls_cert,
                                                                                     settings.tls_key)):
        err.print(f"[red]{problem}[/red]", highlight=False)
        raise typer.Exit(2)
    if settings.workers > 1 and not settings.resolved_database_url.startswith("postgresql"):
        err.print(f"[red]--workers {settings.workers} needs PostgreSQL: an SQLite database serves one process. Set "
                  "database_url (AADSYS_DATABASE_URL) to a PostgreSQL database, or serve one worker.[/red]",
                  highlight=False)
        raise typer.Exit(2)
    prepare(settings)
    settings.hand_to_workers()
    scheme = "https" if settings.tls_cert else "http"
    typer.echo(f"AAdSys '{settings.org}' on {scheme}://{settings.host}:{settings.port} with {settings.workers} "
               "worker(s)  (OpenAPI: /docs)")
    run_server(host=settings.host, port=settings.port, workers=settings.workers, access_log=settings.access_log,
               ws_per_message_deflate=False, ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key,
               log_config=_log_config(["aadsys", *(extension.name for extension in discover())]),
               **settings.proxy_options)


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


@app.command()
def certs(
    out: Annotated[Path, typer.Option("--out", help="Directory of the CA and the certificates; a CA already there "
                                      "(ca.pem, ca-key.pem) is reused")] = Path("certs"),
    host: Annotated[list[str] | None, typer.Option("--host", help="A host name or IP address the server is reached "
                                                   "by (repeatable), e.g. pec.example or 127.0.0.1")] = None,
    name: Annotated[str | None, typer.Option(help="File name of the certificate: NAME.pem and NAME-key.pem "
                                             "[default: the first --host]")] = None,
    days: Annotated[int | None, typer.Option(min=1, max=825, help="How long the server certificate is valid "
                                             "[default 397]")] = None,
) -> None:
    """Make a development CA (once per directory) and a server certificate it signs, for a TLS pilot.

    Real deployments may use any PEM certificate chain and key instead (deploy/README.md, "TLS").
    """
    from aadsys import certs as made

    try:
        ca = made.load_or_make_ca(out)
        server = made.issue(ca, out, name or made.file_name_for(host[0]), host,
                            days=days or made.SERVER_DAYS) if host else None
    except made.CertificateError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]cannot write in {out}: {exc.strerror or exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    say = Console(highlight=False, soft_wrap=True).print
    say(f"{'made' if ca.made else 'reused'} the development CA: {ca.cert_file} (hand it to every client as "
        f"tls_ca_file) and {ca.key_file} (mode 0600: it signs certificates, so keep it here and never share it)")
    if server is None:
        say("no --host given, so no server certificate; e.g. aadsys certs --out "
            f"{out} --host pec.example --host 127.0.0.1 --name pec")
        return
    say(f"wrote {server.cert_file} for {', '.join(server.hosts)}, valid until {server.not_after:%Y-%m-%d}, and its "
        f"key {server.key_file} (mode 0600)")
    say(f"serve with it:  aadsys serve --tls-cert {server.cert_file} --tls-key {server.key_file}  (abm-portal "
        "serve, pec_shop and omis_line serve take the same options)")
    say(f"clients trust it with:  AADSYS_TLS_CA_FILE={ca.cert_file}  (PEC_SHOP_TLS_CA_FILE, OMIS_LINE_TLS_CA_FILE "
        "alike; or tls_ca_file in the app's TOML file, or aadsys init --tls-ca-file)")
    typer.echo(str(server.cert_file))


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
    database: Annotated[str, typer.Option(help="sqlite: each AAdSys on its own file (or the URLs given); "
                                          "postgresql: both on a throw-away PostgreSQL cluster with durable "
                                          "commits, started for the run")] = "sqlite",
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes of each AAdSys (more than one "
                                         "needs --database postgresql)")] = 1,
    keep: KeepDir = None,
) -> None:
    """Real-time Sales Orders PEC → OMIS under load: stored per second at OMIS, and latency under that load."""
    from aadsys.benchmark import throughput

    if database not in ("sqlite", "postgresql"):
        err.print(f"[red]--database: '{database}' is neither sqlite nor postgresql[/red]")
        raise typer.Exit(2)
    postgresql = database == "postgresql"
    if postgresql and (pec_database_url or omis_database_url):
        err.print("[red]--database postgresql starts its own cluster: leave out --pec/--omis-database-url[/red]")
        raise typer.Exit(2)
    given = [url for url in (pec_database_url, omis_database_url) if url]
    if workers > 1 and not postgresql and not (len(given) == 2 and all(u.startswith("postgresql") for u in given)):
        err.print(f"[red]--workers {workers}: several workers share one database, which SQLite cannot; add "
                  "--database postgresql[/red]")
        raise typer.Exit(2)
    code = throughput.run(count=count, producers=producers, seconds=seconds,
                          database_urls=(pec_database_url, omis_database_url), json_path=json_path, keep=keep,
                          console=_bench_console(), postgresql=postgresql, workers=workers)
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


def _counts(text: str, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        err.print(f"[red]{option}: give whole numbers of at least 1, comma-separated, e.g. 8,32[/red]")
        raise typer.Exit(2)
    return values


@bench_app.command("reads")
def bench_reads(
    count: Annotated[int, typer.Option(min=1, max=10_000_000, help="Sales Orders stored for part 1")] = 1000,
    seconds: Annotated[int, typer.Option(min=1, max=3600, help="wrk duration of each part 1 read")] = 10,
    connections: Annotated[str, typer.Option(help="wrk connections of part 1, comma-separated")] = "8,32",
    scale: Annotated[str, typer.Option(help="database sizes of the page reads, e.g. 1000,100000,1000000; "
                                            "'none' skips")] = "1000,100000,1000000",
    scale_seconds: Annotated[int, typer.Option(min=1, max=3600, help="wrk duration of each page read")] = 5,
    scale_connections: Annotated[str, typer.Option(help="wrk connections of each page read")] = "1,8",
    rounds: Annotated[int, typer.Option(min=1, max=100, help="measure every read this many times, interleaved; "
                                                             "report the median round")] = 1,
    json_path: JsonOut = None,
    keep: KeepDir = None,
) -> None:
    """Requests per second and latency of the read API (Part 2, registry, business API) with wrk."""
    from aadsys.benchmark import reads
    from aadsys.benchmark.history import parse_sizes

    try:
        sizes = [] if scale.strip().lower() in ("", "none") else sorted(set(parse_sizes(scale)))
    except ValueError as exc:
        err.print(f"[red]--scale: {exc}[/red]")
        raise typer.Exit(2) from None
    raise typer.Exit(reads.run(count=count, seconds=seconds, connections=_counts(connections, "--connections"),
                               sizes=sizes, scale_seconds=scale_seconds,
                               scale_connections=_counts(scale_connections, "--scale-connections"), rounds=rounds,
                               json_path=json_path, keep_dir=keep, console=_bench_console()))


@bench_app.command("ingest")
def bench_ingest(
    count: Annotated[int, typer.Option(min=1, max=1_000_000, help="Sales Orders per size")] = 400,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Concurrent HTTP clients")] = 4,
    seconds: Annotated[float, typer.Option(min=1, max=3600, help="Time budget per size and mode")] = 60,
    batch: Annotated[int, typer.Option(min=1, max=5000, help="Sales Orders per bulk request")] = 200,
    json_path: JsonOut = None,
) -> None:
    """Sales Orders per second over HTTP into one AAdSys, at 2 KB and 100 KB: one a POST, then in bulk."""
    from aadsys.benchmark import ingest

    raise typer.Exit(ingest.run(count=count, concurrency=concurrency, seconds=seconds, json_path=json_path,
                                console=_bench_console(), batch=batch))


@bench_app.command("render")
def bench_render(
    runs: Annotated[int, typer.Option(min=1, max=100_000, help="Runs of our render+validate per size")] = 300,
    json_path: JsonOut = None,
) -> None:
    """Render+validate of one Sales Order, beside basyx read+write and aas-core3.0 parse+verify of the same."""
    from aadsys.benchmark import render

    raise typer.Exit(render.run(runs=runs, json_path=json_path, console=_bench_console()))


for _extension in discover():
    _commands = _extension.commands()
    if _commands is not None:
        app.add_typer(_commands, name=_extension.name)

"""The ``omis-line`` command line: set up and run OMIS's ERP + MES + bottling line.

Settings come from options, ``OMIS_LINE_*`` environment variables and ``<data-dir>/omis_line.toml``.
Bad input ends with exit code 2, with a message, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from omis_line.config import API_KEY_FILE_NAME, CONFIG_FILE_NAME, Settings, load_settings
from omis_line.db import migrate
from omis_line.tls import server_files_problem
from omis_line.web.auth import hash_password

app = typer.Typer(help="OMIS line: ERP + MES + six-station bottling line with RFID trace and OEE.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
err = Console(stderr=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="Holds the database, omis_line.toml, the API key and the "
                                                          "operator password hash")]


@app.command()
def init(
    data_dir: DataDir,
    aadsys_url: Annotated[str, typer.Option("--aadsys-url", help="OMIS's AAdSys base URL")],
    api_key_file: Annotated[Path, typer.Option("--api-key-file", help="File holding an AAdSys write key")],
    operator_password_file: Annotated[Path, typer.Option("--operator-password-file",
                                                         help="File whose first line is the operator password")],
    partner: Annotated[str, typer.Option("--partner", help="Org slug whose Sales Orders the ERP takes")] = "pec",
    database_url: Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL; default SQLite in "
                                                                            "the data dir")] = None,
) -> None:
    """Write omis_line.toml, keep the API key (0600) and the operator password's argon2 hash, migrate the database."""
    key = _first_line(api_key_file, "--api-key-file")
    password = _first_line(operator_password_file, "--operator-password-file")
    data_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {"aadsys_url": aadsys_url, "partner": partner}
    if database_url:
        values["database_url"] = database_url
    settings = _settings(data_dir=data_dir, **values)
    lines = ["# omis-line settings; environment variables OMIS_LINE_* override them, CLI options override both",
             f"aadsys_url = {json.dumps(settings.aadsys_url)}",
             f"partner = {json.dumps(settings.partner)}"]
    if database_url:
        lines.append(f"database_url = {json.dumps(database_url)}")
    lines += ["# the line", f"station_seconds = {json.dumps(settings.station_seconds)}",
              f"failure_probability = {settings.failure_chance('loading')}  # or a table: {{ capping = 0.1 }}",
              f"failure_policy = {json.dumps(settings.failure_policy)}", f"max_reworks = {settings.max_reworks}",
              "# seed = 42", "# planned_ideal_cycle_seconds = 1.0"]
    (data_dir / CONFIG_FILE_NAME).write_text("\n".join(lines) + "\n")
    _write_private(data_dir / API_KEY_FILE_NAME, key + "\n")
    _write_private(settings.password_hash_file, hash_password(password) + "\n")
    migrate(settings.resolved_database_url)
    typer.echo(f"initialised {data_dir} (database {settings.resolved_database_url.split('@')[-1]})")


@app.command()
def serve(
    data_dir: DataDir,
    host: Annotated[str | None, typer.Option("--host", help="Listen address [default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen port [default 8091]")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate (chain) to serve https with "
                                                                     "[env OMIS_LINE_TLS_CERT]")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="its PEM private key [env OMIS_LINE_TLS_KEY]")]
    = None,
) -> None:
    """Migrate (a no-op when current) and serve the operator page, the JSON API and the line."""
    import uvicorn

    from omis_line.web.app import create_app

    settings = _settings(data_dir=data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    if settings.tls_cert and settings.tls_key and (problem := server_files_problem(settings.tls_cert,
                                                                                     settings.tls_key)):
        _fail(problem, 2)
    if not settings.resolved_api_key_file.exists():
        _fail(f"no AAdSys API key at {settings.resolved_api_key_file}; run 'omis-line init' first", 2)
    if not settings.password_hash_file.exists():
        _fail(f"no operator password hash at {settings.password_hash_file}; run 'omis-line init' first", 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    migrate(settings.resolved_database_url)
    # Open live pages (SSE) would hold a graceful shutdown forever; a few seconds is enough for the rest.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=3, ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)


@app.command()
def report(
    data_dir: DataDir,
    start: Annotated[str | None, typer.Option("--from", help="First day or moment, ISO 8601 (UTC), e.g. 2026-11-01 "
                                                             "[default 7 days before --to]")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or moment, e.g. 2026-11-07 "
                                                         "[default now]")] = None,
    output_format: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="File to write [default "
                                                           "production-report-<from>-<to>.<format>]")] = None,
) -> None:
    """The production report of a time frame: OEE by day with its factors, stations, reworks, lead times."""
    from omis_line import report as production
    from omis_line.db import Database

    if output_format not in ("html", "pdf"):
        _fail(f"--format is html or pdf, not '{output_format}'", 2)
    settings = _settings(data_dir=data_dir)
    try:
        start_at, end_at = production.parse_range(start, end)
    except production.RangeInvalid as exc:
        _fail(f"--{exc.field}: {exc.message}", 2)
    if settings.resolved_database_url.startswith("sqlite:///") and not Path(
            settings.resolved_database_url.removeprefix("sqlite:///")).exists():
        _fail(f"no line database in {data_dir}; give the --data-dir of 'omis-line init'", 2)
    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            built = production.build(session, start_at, end_at, settings.ideal_cycle_seconds)
    finally:
        database.dispose()
    target = out or Path(f"production-report-{start_at:%Y%m%d}-{end_at:%Y%m%d}.{output_format}")
    if output_format == "pdf":
        target.write_bytes(production.pdf(built))
    else:
        target.write_text(production.html(built))
    err.print(f"{'empty ' if built.empty else ''}production report of {start_at:%Y-%m-%d %H:%M} to "
              f"{end_at:%Y-%m-%d %H:%M} UTC written", highlight=False)
    print(target)


def _settings(**values: object) -> Settings:
    try:
        return load_settings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid settings: {problems}", 2)


def _first_line(path: Path, option: str) -> str:
    try:
        text = path.read_text().splitlines()
    except OSError as exc:
        _fail(f"{option}: cannot read {path}: {exc.strerror}", 2)
    if not text or not text[0].strip():
        _fail(f"{option}: {path} is empty; put the value on its first line", 2)
    return text[0].strip()


def _write_private(path: Path, text: str) -> None:
    """Readable by the owner only, from the first byte on."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)



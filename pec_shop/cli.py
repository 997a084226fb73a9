"""The ``pec-shop`` command line (``python -m pec_shop``): ``init`` a data directory, ``serve`` the shop.

Settings come from options, ``PEC_SHOP_*`` environment variables and ``<data-dir>/pec_shop.toml``.
Bad input ends with exit code 2 and a message, never a traceback.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from pec_shop.config import API_KEY_FILE_NAME, Settings, load_settings, write_config_file
from pec_shop.db import migrate
from pec_shop.tls import server_files_problem

app = typer.Typer(help="PEC juice shop: customers compose juices; orders go to PEC's AAdSys.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Holds the database, the API key and "
                                              "pec_shop.toml [env PEC_SHOP_DATA_DIR; default data/pec_shop]")]


@app.command()
def init(
    data_dir: DataDir = None,
    aadsys_url: Annotated[str | None, typer.Option(help="PEC's AAdSys, e.g. http://127.0.0.1:8080")] = None,
    api_key_file: Annotated[Path | None, typer.Option(help="File whose first line is a write key of PEC's "
                                                           "AAdSys; copied into the data dir")] = None,
    partner: Annotated[str | None, typer.Option(help="Org slug whose Sales Order Status the shop accepts "
                                                     "[default omis]")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
    staff_password_file: Annotated[Path | None, typer.Option(help="File whose first line is the staff password "
                                                                  "for the sales report (/staff/report); its "
                                                                  "argon2 hash is kept")] = None,
) -> None:
    """Write pec_shop.toml, copy the API key into the data dir (mode 0600) and run the migrations."""
    settings = _settings(data_dir=data_dir, aadsys_url=aadsys_url, partner=partner, database_url=database_url)
    if api_key_file is None:
        _fail("give a write key of PEC's AAdSys with --api-key-file FILE (made by `aadsys keys create`)")
    try:
        key = next(iter(api_key_file.read_text().splitlines()), "").strip()
    except OSError as exc:
        _fail(f"cannot read the API key file {api_key_file}: {exc.strerror}")
    if not key:
        _fail(f"the API key file {api_key_file} is empty; put the key on its first line")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _write_secret(settings.data_dir / API_KEY_FILE_NAME, key)
    if staff_password_file is not None:
        from pec_shop.staff import hash_password

        try:
            password = next(iter(staff_password_file.read_text().splitlines()), "")
        except OSError as exc:
            _fail(f"cannot read the staff password file {staff_password_file}: {exc.strerror}")
        if not password:
            _fail(f"the staff password file {staff_password_file} is empty; put the password on its first line")
        _write_secret(settings.staff_password_file, hash_password(password))
    path = write_config_file(settings)
    migrate(settings.resolved_database_url)
    err.print(f"initialised {settings.data_dir}: settings in {path}, database migrated", highlight=False,
              soft_wrap=True)
    print(settings.data_dir.resolve())  # the result, as the last stdout line, for scripts


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Listen address [default 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [default 8090]")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (chain) to serve https with "
                                                       "[env PEC_SHOP_TLS_CERT]")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="its PEM private key [env PEC_SHOP_TLS_KEY]")] = None,
) -> None:
    """Run the migrations (a no-op when current), then serve the shop with its sender and status follower."""
    import uvicorn

    from pec_shop.app import create_app
    from pec_shop.logs import configure_logging

    settings = _settings(data_dir=data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    if settings.tls_cert and settings.tls_key and (problem := server_files_problem(settings.tls_cert,
                                                                                     settings.tls_key)):
        _fail(problem)
    migrate(settings.resolved_database_url)
    try:
        application = create_app(settings)
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the AAdSys API key ({exc}); run `pec-shop init --api-key-file FILE` first")
    configure_logging()
    # A graceful-shutdown limit, or open order-page streams (SSE) would hold a stop until browsers leave.
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=3, ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)


@app.command()
def report(
    data_dir: DataDir = None,
    start: Annotated[str | None, typer.Option("--from", help="First day or moment, ISO 8601 (UTC), e.g. 2026-11-01 "
                                                             "[default 7 days before --to]")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or moment, e.g. 2026-11-07 "
                                                         "[default now]")] = None,
    output_format: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="File to write [default "
                                                           "sales-report-<from>-<to>.<format>]")] = None,
) -> None:
    """The sales report of a time frame: orders by day and juice, lead time to completed, orders stuck."""
    from pec_shop import report as sales
    from pec_shop.db import Database

    if output_format not in ("html", "pdf"):
        _fail(f"--format is html or pdf, not '{output_format}'")
    settings = _settings(data_dir=data_dir)
    try:
        start_at, end_at = sales.parse_range(start, end)
    except sales.RangeInvalid as exc:
        _fail(f"--{exc.field}: {exc.message}")
    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        _fail(f"no shop database in {settings.data_dir}; give the --data-dir of 'pec-shop init'")
    database = Database(url)
    try:
        with database.session() as session:
            built = sales.build(session, start_at, end_at)
    finally:
        database.dispose()
    target = out or Path(f"sales-report-{start_at:%Y%m%d}-{end_at:%Y%m%d}.{output_format}")
    if output_format == "pdf":
        target.write_bytes(sales.pdf(built))
    else:
        target.write_text(sales.html(built))
    err.print(f"{'empty ' if built.empty else ''}sales report of {start_at:%Y-%m-%d %H:%M} to "
              f"{end_at:%Y-%m-%d %H:%M} UTC written", highlight=False)
    print(target)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid settings: {problems}")


def _write_secret(path: Path, value: str) -> None:
    """Owner-only from the first byte: the file is created 0600, never widened afterwards."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.chmod(tmp, 0o600)
    shutil.move(tmp, path)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)

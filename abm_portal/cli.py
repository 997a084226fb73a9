"""The ``abm-portal`` command line: set up, run and operate the ABM Portal.

Settings come from options, ``ABM_PORTAL_*`` environment variables and ``<data-dir>/portal.toml``.
Commands that print a credential print it as their last line, so scripts can take it with ``tail -n1``.
Bad input ends with exit code 2, a refused operation with 1; both with a message, never a traceback.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from abm_portal.config import CONFIG_FILE_NAME, Settings, hand_to_workers, load_settings
from abm_portal.db import Database, exclusive, is_sqlite, migrate
from abm_portal.errors import Conflict, PortalError
from abm_portal.services import key_encryption, organisations, personal_tokens, session_key, signing_keys, users
from abm_portal.tls import server_files_problem

if TYPE_CHECKING:
    from sqlmodel import Session


app = typer.Typer(help="ABM Portal: the marketplace and trust anchor of AAdSys.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
token_app = typer.Typer(help="Personal access tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="The portal's token signing keys.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True, soft_wrap=True)  # messages are never broken mid-command: the terminal wraps them

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Holds the SQLite database and portal.toml; env "
                                              "ABM_PORTAL_DATA_DIR", show_default="./portal-data")]
PasswordFile = Annotated[Path | None, typer.Option(help="File whose first line is the password ('-': stdin)")]


def prepare(settings: Settings, *, make_kek: bool = False) -> Path | None:
    """Migrate the schema to head, encrypt plaintext signing keys, make sure a signing key and the web session
    key exist: safe to repeat, and to run on several hosts at once (one after the other, by an advisory lock).

    A missing or wrong key-encryption key is ``KeyEncryptionFailed`` before anything changes; with ``make_kek``
    (``init``) a KEK file is made when none is configured, and its path returned.
    """
    from abm_portal.services import signing_keys

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    made = None
    if make_kek and not key_encryption.has_kek(settings):
        made = key_encryption.create_kek_file(settings.resolved_kek_file)
    key_encryption.kek_of(settings)
    with exclusive(settings.resolved_database_url, "prepare"):
        migrate(settings.resolved_database_url)
        with _session(settings) as db:
            signing_keys.encrypt_plaintext_keys(db, settings)  # a database from before encryption at rest
            signing_keys.check_kek_opens_keys(db, settings)
            signing_keys.current_key(db, settings)  # makes the first key when there is none
            session_key.session_key(db, settings)  # likewise the key of the web session cookies
    return made


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    from pydantic import ValidationError

    try:
        return load_settings(data_dir=data_dir, **overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        _fail(f"invalid settings: {problems}", 2)


def _existing(data_dir: Path | None) -> Settings:
    """The settings of a portal that ``abm-portal init`` made; exit 2 naming the data directory otherwise."""
    settings = _settings(data_dir)
    if not settings.data_dir.is_dir():
        _fail(f"the data directory {settings.data_dir} does not exist: give the --data-dir that `abm-portal init` "
              "made (default ./portal-data, or set ABM_PORTAL_DATA_DIR)", 2)
    if settings.database_url is None and not (settings.data_dir / "portal.db").is_file():
        _fail(f"{settings.data_dir} holds no portal (no database): give the --data-dir that `abm-portal init` made, "
              f"or make one with `abm-portal init --data-dir {settings.data_dir}`", 2)
    return settings


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:

    database = Database(settings.resolved_database_url)
    try:
        with database.session() as session:
            yield session
    finally:
        database.dispose()


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused operation (the services' typed errors) as a message and exit code 1."""
    try:
        yield
    except PortalError as exc:
        _fail(exc.message, 1)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _read_password(path: Path | None, option: str) -> str:
    if path is None:
        _fail(f"give the password in a file with {option} (a file, or - for stdin)", 2)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        _fail(f"cannot read the password file {path}: {exc.strerror}", 2)
    lines = text.splitlines()
    if not lines or not lines[0]:
        _fail(f"the password file {path} is empty; put the password on its first line", 2)
    return lines[0]


def _write_config(settings: Settings, **values: str | None) -> None:
    """Keep the options ``init`` was given in ``portal.toml``, so later commands need only ``--data-dir``."""
    given = {k: v for k, v in values.items() if v}
    if not given:
        return
    path = settings.data_dir / CONFIG_FILE_NAME
    kept = tomllib.loads(path.read_text()) if path.exists() else {}
    merged = {**kept, **given}
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in merged.items()))


@app.command()
def init(
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
    public_url: Annotated[str | None, typer.Option(help="The portal's external URL, e.g. https://portal.example")]
    = None,
    operator_email: Annotated[str | None, typer.Option(help="Email of the first portal operator")] = None,
    operator_password_file: PasswordFile = None,
) -> None:
    """Make the data directory, the key-encryption key (unless one is configured), run the migrations, make a
    signing key and the first operator."""
    from abm_portal.services import users

    settings = _settings(data_dir, database_url=database_url, public_url=public_url, operator_email=operator_email)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _write_config(settings, database_url=database_url, public_url=public_url)
    email = settings.operator_email
    password = _read_password(operator_password_file, "--operator-password-file") if email else None
    with _refusals():
        made_kek = prepare(settings, make_kek=True)
    if made_kek:
        typer.echo(f"key-encryption key made in {made_kek} (mode 0600); back it up apart from the database: "
                   "without it the portal cannot use its signing keys")
    if email and password:
        with _session(settings) as db, _refusals():
            try:
                user = users.create_operator(db, email=email, password=password)
                typer.echo(f"portal operator {user.email} created")
            except Conflict:  # init runs again: the operator is there already
                typer.echo(f"portal operator {email} exists already; its password is unchanged")
    typer.echo(f"ABM Portal initialised in {settings.data_dir} ({settings.resolved_database_url.split('://')[0]})")


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="listen address", show_default="127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="listen port", show_default="8700")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (chain) to serve https with, e.g. from "
                                                       "`aadsys certs`; env ABM_PORTAL_TLS_CERT")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="its PEM private key; env ABM_PORTAL_TLS_KEY")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes; more than one needs PostgreSQL",
                                                show_default="1")] = None,
) -> None:
    """Run the portal (migrates the database first): REST API, web UI, OpenAPI at /docs.

    Any number of workers, here or on other hosts with the same database_url and key-encryption key, serve one
    portal: put a reverse proxy in front of them (deploy/nginx)."""
    import uvicorn

    from abm_portal.serving import APP_FACTORY, uvicorn_options

    settings = _settings(data_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, workers=workers)
    if settings.tls_cert and settings.tls_key and (problem := server_files_problem(settings.tls_cert,
                                                                                     settings.tls_key)):
        _fail(problem, 2)
    if settings.workers > 1 and is_sqlite(settings.resolved_database_url):
        _fail(f"--workers {settings.workers} needs PostgreSQL: an SQLite database serves one process. Set "
              "database_url (ABM_PORTAL_DATABASE_URL) to postgresql+psycopg://user@host/portal, or run one worker.",
              2)
    with _refusals():
        prepare(settings)
    hand_to_workers(settings)
    scheme = "https" if settings.tls_cert else "http"
    typer.echo(f"ABM Portal on {scheme}://{settings.host}:{settings.port} with {settings.workers} worker(s)  "
               "(OpenAPI: /docs, liveness /healthz, readiness /readyz)")
    uvicorn.run(APP_FACTORY, factory=True, host=settings.host, port=settings.port, **uvicorn_options(settings))


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The organisation's name, as partners see it")],
    admin_email: Annotated[str, typer.Option(help="Email of its first administrator")],
    admin_password_file: PasswordFile = None,
    description: Annotated[str, typer.Option(help="What the organisation offers or needs")] = "",
    data_dir: DataDir = None,
) -> None:
    """Register an organisation with its first admin. The last line is JSON: org_id, client_id, client_secret."""

    settings = _existing(data_dir)
    password = _read_password(admin_password_file, "--admin-password-file")
    with _session(settings) as db, _refusals():
        org, admin, secret = organisations.register_organisation(db, name=name, description=description,
                                                                 admin_email=admin_email, admin_password=password)
    err.print(f"organisation “{org.name}” registered with admin {admin.email}; store the client secret now, "
              "it is not shown again", highlight=False)
    typer.echo(json.dumps({"org_id": org.id, "client_id": org.client_id, "client_secret": secret}))


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="Email of the person the token acts as")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    data_dir: DataDir = None,
) -> None:
    """Make a personal access token; it is printed once, as the last line."""

    settings = _existing(data_dir)
    with _session(settings) as db, _refusals():
        account = users.find_user(db, user)
        value = personal_tokens.create_personal_token(db, users.actor_for_user(db, account), name)
    err.print(f"personal token “{name}” for {account.email}: store it now, it is not shown again", highlight=False)
    typer.echo(value)


@app.command()
def report(
    org: Annotated[str, typer.Option(help="The organisation: its name or id")],
    start: Annotated[str | None, typer.Option("--from", help="First day or moment, ISO 8601 (UTC), e.g. 2026-11-01",
                                              show_default="7 days before --to")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (inclusive) or moment, e.g. 2026-11-07",
                                            show_default="now")] = None,
    output_format: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    out: Annotated[Path | None, typer.Option("--out", help="File to write",
                                             show_default="portal-report-<from>-<to>.<format>")] = None,
    data_dir: DataDir = None,
) -> None:
    """An organisation's report of a time frame: subscriptions, transfers, refusals, grants, audit events."""
    from sqlmodel import or_, select

    from abm_portal import reports
    from abm_portal.models import Organisation

    if output_format not in ("html", "pdf"):
        _fail(f"--format is html or pdf, not '{output_format}'", 2)
    try:
        frame = reports.parse_range(start, end)
    except reports.RangeInvalid as exc:
        _fail(f"--{exc.field}: {exc.message}", 2)
    settings = _existing(data_dir)
    with _session(settings) as db:
        found = db.exec(select(Organisation).where(or_(Organisation.name == org, Organisation.id == org))).first()
        if found is None:
            _fail(f"no organisation is named or has the id '{org}'; give --org as on its organisation page", 2)
        built = reports.build(db, found, *frame)
        target = out or Path(f"portal-report-{frame[0]:%Y%m%d}-{frame[1]:%Y%m%d}.{output_format}")
        if output_format == "pdf":
            target.write_bytes(reports.pdf(built))
        else:
            target.write_text(reports.html(built))
    err.print(f"{'empty ' if built.empty else ''}report of {found.name} written", highlight=False)
    typer.echo(target)


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Sign with a new key from now on; the old one stays in the JWKS until its tokens have expired."""

    settings = _existing(data_dir)
    with _session(settings) as db, _refusals():
        key = signing_keys.rotate(db, settings, "operator (abm-portal keys rotate)")
    typer.echo(f"new signing key {key.kid}; retired keys stay published for "
               f"{settings.longest_token_lifetime_seconds + settings.clock_skew_seconds} s")

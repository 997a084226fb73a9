"""``aadsys export``: the records of one asset type created in a date range, as one AASX package.

Each record's latest revision goes in (its shell and submodels), with the stored files its File elements name.
The package is written to a temporary file beside the target and renamed over it at the end, so a failure
leaves no half-written package behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from aadsys.aasx import file_values, write_package
from aadsys.config import Settings
from aadsys.core.db import Database
from aadsys.core.errors import AssetTypeNotRegistered, FileNotFound
from aadsys.core.files import FileStore
from aadsys.core.instances import InstanceService
from aas_models import Owner, referenced_digest
from aas_models.serialization import Json

_PAGE = 500


class ExportError(Exception):
    """Something the operator must fix: the message says what."""


def parse_moment(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """ISO 8601 (``2026-11-22``, ``2026-11-22T10:15:00Z``); no offset means UTC. A bare date is its first moment,
    or with ``end_of_day`` its last, so ``--from D --to D`` is the whole day ``D``."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ExportError(f"{option} '{text}' is not an ISO 8601 date or time; write e.g. 2026-11-22 or "
                          "2026-11-22T10:15:00Z") from None
    if end_of_day and "T" not in text.upper() and " " not in text.strip():
        moment = datetime.combine(moment.date() + timedelta(days=1), time()) - timedelta(microseconds=1)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_writable(out: Path) -> None:
    """Fail before reading anything when the package could not be written."""
    parent = out.resolve().parent
    if out.is_dir():
        raise ExportError(f"--out {out} is a directory; give a file name, e.g. {out / 'export.aasx'}")
    if not parent.is_dir():
        raise ExportError(f"--out {out}: the directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"--out {out}: the directory {parent} is not writable by this user")


def export_instances(settings: Settings, slug: str, created_from: datetime, created_to: datetime, out: Path,
                     console: Console) -> int:
    """Write the package; returns how many records it holds. Raises ``ExportError`` on what the operator can fix."""
    if created_to < created_from:
        raise ExportError(f"--to {created_to.isoformat()} is before --from {created_from.isoformat()}; "
                          "give a range with from <= to")
    check_writable(out)
    db = Database(settings.resolved_database_url)
    try:
        instances = InstanceService(db, Owner(org=settings.org, base_iri=settings.base_iri))
        try:
            instances.get_spec(slug)
        except AssetTypeNotRegistered as exc:
            raise ExportError(str(exc)) from None
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            reading = progress.add_task(f"reading {slug} records", total=None)
            environment: Json = {"assetAdministrationShells": [], "submodels": []}
            count = 0
            for record in _records(instances, slug, created_from, created_to):
                environment["assetAdministrationShells"] += record.get("assetAdministrationShells") or []
                environment["submodels"] += record.get("submodels") or []
                count += 1
                progress.advance(reading)
            progress.update(reading, total=count)
            if not count:
                raise ExportError(f"no {slug} records were created between {created_from.isoformat()} and "
                                  f"{created_to.isoformat()}; nothing written")
            values = file_values(environment)
            loading = progress.add_task("reading files", total=len(values))
            files = FileStore(db, settings.files_dir)
            contents: dict[str, tuple[bytes, str]] = {}
            for value in values:
                digest = referenced_digest(value)
                if digest is not None:
                    try:
                        contents[value] = files.read(digest)
                    except FileNotFound:
                        console.print(f"[yellow]{value} is not stored here; the package leaves it out[/yellow]")
                progress.advance(loading)
            writing = progress.add_task(f"writing {out.name}", total=1)
            _write_atomically(out, environment, contents, settings.org)
            progress.advance(writing)
        return count
    finally:
        db.dispose()


def _records(instances: InstanceService, slug: str, created_from: datetime, created_to: datetime
             ) -> Iterator[Json]:
    """The AAS environment of each record's latest revision created in the range, oldest first."""
    cursor: str | None = None
    while True:
        page = instances.page(slug, created_from=created_from, created_to=created_to, cursor=cursor, limit=_PAGE,
                              latest_only=True)
        for item in page.items:
            yield orjson.loads(instances.get(slug, item.key, item.revision).aas_json)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _write_atomically(out: Path, environment: Json, files: dict[str, tuple[bytes, str]], creator: str) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=out.resolve().parent, prefix=f".{out.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as target:
            write_package(target, environment, files, creator=creator)
        os.replace(tmp, out)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)

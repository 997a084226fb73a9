"""The instance service: the one way business records enter, and leave, this AAdSys's store.

Records are rendered and validated once, at the edge (``aas_models``), and stored as canonical
AAS JSON bytes. Creation is idempotent per (asset type, key): the same content returns what is
stored; other content is a conflict, or the next revision for versioned asset types.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from sqlalchemy import and_, bindparam, insert, or_, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from aadsys.core.db import Database
from aadsys.core.errors import (
    AssetTypeNotRegistered,
    InstanceConflict,
    InstanceNotFound,
    InvalidCursor,
    InvalidRange,
    MissingFiles,
)
from aadsys.core.events import InstanceEvents
from aadsys.core.tables import AssetTypeRow, FileRow, InstanceRow, SubmodelRow, utcnow
from aas_models import (
    AssetTypeSpec,
    Owner,
    RenderedInstance,
    asset_type,
    business_json,
    instance_from_aas,
    render_instance,
)

_INSTANCES = InstanceRow.__table__  # type: ignore[attr-defined]
_SUBMODELS = SubmodelRow.__table__  # type: ignore[attr-defined]
_FILES = FileRow.__table__  # type: ignore[attr-defined]
# Built once: the ingest path only binds parameters (building a statement per call costs more than running it).
_LATEST = select(_INSTANCES.c.id, _INSTANCES.c.revision, _INSTANCES.c.sha256, _INSTANCES.c.created_at).where(
    _INSTANCES.c.asset_type == bindparam("asset_type"), _INSTANCES.c.instance_key == bindparam("key"),
    _INSTANCES.c.is_latest.is_(True))
_RETIRE = update(_INSTANCES).where(_INSTANCES.c.id == bindparam("row_id")).values(is_latest=False)
_INSERT = insert(_INSTANCES).returning(_INSTANCES.c.id)
_INSERT_SUBMODEL = insert(_SUBMODELS)

# Serialises instance inserts on PostgreSQL so that sequence order equals commit order: a stream
# that reads "after seq N" can then never miss a row that commits late with a lower id.
_PG_INGEST_LOCK = 0x4141_6453


@dataclass(frozen=True, slots=True)
class StoredInstance:
    seq: int
    asset_type: str
    key: str
    revision: int
    created_at: datetime
    sha256: str
    shell_id: str
    aas_json: bytes

    @classmethod
    def from_row(cls, row: InstanceRow) -> StoredInstance:
        assert row.id is not None
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        return cls(row.id, row.asset_type, row.instance_key, row.revision, created, row.sha256, row.shell_id,
                   row.aas_json)

    def business(self) -> dict[str, Any]:
        return business_json(self.asset_type, self.aas_json)

    def envelope(self) -> dict[str, Any]:
        """Metadata plus business JSON: the list and event representation."""
        return {"assetType": self.asset_type, "key": self.key, "revision": self.revision, "seq": self.seq,
                "createdAt": iso(self.created_at), "sha256": self.sha256, "data": self.business()}


@dataclass(frozen=True)
class Page:
    items: list[StoredInstance]
    next_cursor: str | None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class InstanceService:
    def __init__(self, db: Database, owner: Owner, events: InstanceEvents | None = None) -> None:
        self.db = db
        self.owner = owner
        self.events = events or InstanceEvents()

    # -- create ---------------------------------------------------------------------------------
    def create(self, slug: str, payload: bytes | dict[str, Any], *, aas: bool = False) -> tuple[StoredInstance, bool]:
        """Store a record given as business JSON (or AAS JSON with ``aas=True``).

        Returns the stored instance and whether it was newly created (False: idempotent repeat).
        """
        spec = self._spec(slug)
        rendered = self._render(spec, payload, aas, revision=1)
        for attempt in range(2):
            try:
                return self._store(spec, payload, aas, rendered)
            except IntegrityError:
                # A concurrent writer stored the same key first; the second pass sees it.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _render(self, spec: AssetTypeSpec, payload: bytes | dict[str, Any], aas: bool, revision: int
                ) -> RenderedInstance:
        if aas:
            return instance_from_aas(spec.slug, payload, self.owner, revision=revision)
        return render_instance(spec.slug, payload, self.owner, revision=revision)

    def _store(self, spec: AssetTypeSpec, payload: bytes | dict[str, Any], aas: bool, rendered: RenderedInstance
               ) -> tuple[StoredInstance, bool]:
        # Core statements, not the ORM unit of work: this is the ingest hot path, and the latest revision
        # is compared by digest without loading its (up to MBs of) JSON.
        with self.db.write_session() as session:
            if self.db.is_postgres:
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INGEST_LOCK})
            latest = session.execute(_LATEST, {"asset_type": spec.slug, "key": rendered.key}).first()
            if latest is not None:
                same = rendered if latest.revision == rendered.revision else self._render(
                    spec, payload, aas, revision=latest.revision)
                if same.sha256 == latest.sha256:
                    return _stored(latest.id, same, latest.created_at), False
                if not spec.versioned:
                    raise InstanceConflict(spec.slug, rendered.key, latest.sha256)
                rendered = self._render(spec, payload, aas, revision=latest.revision + 1)
                session.execute(_RETIRE, {"row_id": latest.id})
            seq, created_at = self._insert(session, spec, rendered)
            session.commit()
        self.events.notify()
        return _stored(seq, rendered, created_at), True

    @staticmethod
    def _insert(session: Session, spec: AssetTypeSpec, rendered: RenderedInstance) -> tuple[int, datetime]:
        if rendered.file_digests:
            stored = set(session.execute(select(_FILES.c.sha256).where(
                _FILES.c.sha256.in_(rendered.file_digests))).scalars())
            missing = [d for d in rendered.file_digests if d not in stored]
            if missing:
                raise MissingFiles(missing)
        created_at = utcnow()
        seq = session.execute(_INSERT, {
            "asset_type": spec.slug, "instance_key": rendered.key, "revision": rendered.revision, "is_latest": True,
            "created_at": created_at, "sha256": rendered.sha256, "shell_id": rendered.shell_id,
            "shell_id_short": rendered.shell_id_short, "global_asset_id": rendered.global_asset_id,
            "aas_json": rendered.aas_json,
        }).scalar_one()
        if rendered.revision == 1:  # submodel ids are stable across revisions
            session.execute(_INSERT_SUBMODEL, [
                {"submodel_id": sm.id, "shell_id": rendered.shell_id, "asset_type": spec.slug,
                 "instance_key": rendered.key, "semantic_id": sm.semantic_id, "id_short": sm.id_short,
                 "first_seen": seq}
                for sm in rendered.submodels])
        return seq, created_at

    # -- read -----------------------------------------------------------------------------------
    def get(self, slug: str, key: str, revision: int | None = None) -> StoredInstance:
        self._spec(slug)
        query = select(InstanceRow).where(InstanceRow.asset_type == slug, InstanceRow.instance_key == key)
        if revision is None:
            query = query.where(col(InstanceRow.is_latest).is_(True))
        else:
            query = query.where(InstanceRow.revision == revision)
        with self.db.session() as session:
            row = session.exec(query).first()
        if row is None:
            raise InstanceNotFound(slug, key, revision)
        return StoredInstance.from_row(row)

    def page(self, slug: str, *, created_from: datetime | None = None, created_to: datetime | None = None,
             cursor: str | None = None, limit: int = 100, latest_only: bool = False) -> Page:
        """Instances created in [created_from, created_to], oldest first, by stable keyset cursor."""
        self._spec(slug)
        created_from, created_to = _aware(created_from), _aware(created_to)
        if created_from and created_to and created_to < created_from:
            raise InvalidRange("'to' is before 'from'; give a range with from <= to")
        query = select(InstanceRow).where(InstanceRow.asset_type == slug)
        if created_from:
            query = query.where(InstanceRow.created_at >= created_from)
        if created_to:
            query = query.where(InstanceRow.created_at <= created_to)
        if latest_only:
            query = query.where(col(InstanceRow.is_latest).is_(True))
        if cursor:
            after_created, after_id = decode_cursor(cursor)
            query = query.where(or_(col(InstanceRow.created_at) > after_created,
                                    and_(col(InstanceRow.created_at) == after_created, col(InstanceRow.id) > after_id)))
        query = query.order_by(col(InstanceRow.created_at), col(InstanceRow.id)).limit(limit + 1)
        with self.db.session() as session:
            rows = session.exec(query).all()
        items = [StoredInstance.from_row(r) for r in rows[:limit]]
        nxt = encode_cursor(items[-1].created_at, items[-1].seq) if len(rows) > limit else None
        return Page(items, nxt)

    def after(self, seq: int, limit: int = 500, asset_types: Sequence[str] | None = None) -> list[StoredInstance]:
        """Instances stored after sequence number ``seq``, in storage order."""
        query = select(InstanceRow).where(col(InstanceRow.id) > seq)
        if asset_types:
            query = query.where(col(InstanceRow.asset_type).in_(list(asset_types)))
        with self.db.session() as session:
            rows = session.exec(query.order_by(col(InstanceRow.id)).limit(limit)).all()
        return [StoredInstance.from_row(r) for r in rows]

    def last_seq(self) -> int:
        with self.db.session() as session:
            row = session.exec(select(InstanceRow.id).order_by(col(InstanceRow.id).desc()).limit(1)).first()
        return row or 0

    async def stream(self, after_seq: int, asset_types: Sequence[str] | None = None, *,
                     poll_seconds: float = 2.0, batch: int = 500) -> AsyncIterator[StoredInstance]:
        """Every instance stored after ``after_seq``, then each new one as it is stored; never ends."""
        while True:
            generation = self.events.generation()
            rows = await anyio.to_thread.run_sync(self.after, after_seq, batch, asset_types)
            for instance in rows:
                yield instance
                after_seq = instance.seq
            if len(rows) < batch:
                await self.events.wait(generation, poll_seconds)

    # -- asset types ----------------------------------------------------------------------------
    def registered_types(self) -> list[AssetTypeRow]:
        with self.db.session() as session:
            return list(session.exec(select(AssetTypeRow).order_by(col(AssetTypeRow.slug))).all())

    def get_spec(self, slug: str) -> AssetTypeSpec:
        """The spec of a registered asset type; AssetTypeNotRegistered otherwise."""
        return self._spec(slug)

    def _spec(self, slug: str) -> AssetTypeSpec:
        if slug not in self._registered_slugs():
            raise AssetTypeNotRegistered(slug, sorted(self._registered_slugs()))
        return asset_type(slug)

    def _registered_slugs(self) -> frozenset[str]:
        cached = getattr(self, "_slugs", None)
        if cached is None:
            cached = frozenset(r.slug for r in self.registered_types())
            if cached:
                self._slugs = cached
        return cached


def _stored(seq: int, rendered: RenderedInstance, created_at: datetime) -> StoredInstance:
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return StoredInstance(seq, rendered.asset_type, rendered.key, rendered.revision, created, rendered.sha256,
                          rendered.shell_id, rendered.aas_json)


def _first_key(reference: dict[str, Any] | None) -> str | None:
    if not reference or not reference.get("keys"):
        return None
    return str(reference["keys"][0].get("value"))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # a time without offset is read as UTC
    return moment


def encode_cursor(created_at: datetime, seq: int) -> str:
    raw = orjson.dumps([iso(created_at), seq])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        created, seq = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created.replace("Z", "+00:00")), int(seq)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidCursor() from None

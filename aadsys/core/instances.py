"""The instance service: the one way business records enter, and leave, this AAdSys's store.

Records are rendered and validated once, at the edge (``aas_models``), and stored as canonical
AAS JSON bytes. Creation is idempotent per (asset type, key): the same content returns what is
stored; other content is a conflict, or the next revision for versioned asset types. One record
and many go the same way (``create_many``): each judged on its own, stored in order, a chunk per
transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from sqlalchemy import bindparam, insert, text, tuple_, update
from sqlalchemy import select as core_select  # sqlmodel's select is typed for ORM entities, not column lists
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from aadsys.core.db import Database
from aadsys.core.errors import (
    AssetTypeNotRegistered,
    CoreError,
    InstanceConflict,
    InstanceNotFound,
    InvalidCursor,
    InvalidRange,
    MissingFiles,
)
from aadsys.core.events import InstanceEvents
from aadsys.core.parts import Spans
from aadsys.core.tables import AssetTypeRow, FileRow, InstanceRow, SubmodelRow, table_of, utcnow
from aas_models import (
    AasModelError,
    AssetTypeSpec,
    Owner,
    RenderedInstance,
    asset_type,
    base64url,
    instance_from_aas,
    render_instance,
)
from aas_models.serialization import json_array

_INSTANCES = table_of(InstanceRow)
_SUBMODELS = table_of(SubmodelRow)
_FILES = table_of(FileRow)
# Built once: the ingest path only binds parameters (building a statement per call costs more than running it).
_LATEST = core_select(_INSTANCES.c.id, _INSTANCES.c.instance_key, _INSTANCES.c.revision, _INSTANCES.c.sha256,
                      _INSTANCES.c.created_at).where(
    _INSTANCES.c.origin == bindparam("origin", ""), _INSTANCES.c.asset_type == bindparam("asset_type"),
    _INSTANCES.c.instance_key.in_(bindparam("keys", expanding=True)), _INSTANCES.c.is_latest.is_(True))
_FILES_HELD = select(_FILES.c.sha256).where(_FILES.c.sha256.in_(bindparam("digests", expanding=True)))
_RETIRE = update(_INSTANCES).where(_INSTANCES.c.id == bindparam("row_id")).values(is_latest=False)
_INSERT = insert(_INSTANCES).returning(_INSTANCES.c.id)
_INSERT_SUBMODEL = insert(_SUBMODELS)
_HEAD_COLUMNS = (_INSTANCES.c.id, _INSTANCES.c.asset_type, _INSTANCES.c.instance_key, _INSTANCES.c.revision,
                 _INSTANCES.c.created_at, _INSTANCES.c.sha256, _INSTANCES.c.origin)
_ONE = core_select(*_HEAD_COLUMNS, _INSTANCES.c.shell_id, _INSTANCES.c.aas_json, _INSTANCES.c.business_json).where(
    _INSTANCES.c.origin == bindparam("origin"), _INSTANCES.c.asset_type == bindparam("asset_type"),
    _INSTANCES.c.instance_key == bindparam("key"))
_GET = _ONE.where(_INSTANCES.c.is_latest.is_(True))
_GET_REVISION = _ONE.where(_INSTANCES.c.revision == bindparam("revision"))
_PAGE = (core_select(*_HEAD_COLUMNS, _INSTANCES.c.business_json)
         .where(_INSTANCES.c.asset_type == bindparam("asset_type"), _INSTANCES.c.origin == bindparam("origin"),
                tuple_(_INSTANCES.c.created_at, _INSTANCES.c.id) > tuple_(
                    bindparam("after", type_=_INSTANCES.c.created_at.type), bindparam("after_seq")),
                _INSTANCES.c.created_at <= bindparam("to"))
         .order_by(_INSTANCES.c.created_at, _INSTANCES.c.id).limit(bindparam("n")))
_PAGE_LATEST = _PAGE.where(_INSTANCES.c.is_latest.is_(True))
_EARLIEST, _LATEST_TIME = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
_HEADS = _INSTANCES.select().with_only_columns(_INSTANCES.c.id, _INSTANCES.c.asset_type, _INSTANCES.c.instance_key,
                                                _INSTANCES.c.revision, _INSTANCES.c.created_at, _INSTANCES.c.sha256,
                                                _INSTANCES.c.origin)

OWN = ""  # the origin of this AAdSys's own records; received ones carry their provider's org slug

# Serialises instance inserts on PostgreSQL so that sequence order equals commit order: a stream
# that reads "after seq N" can then never miss a row that commits late with a lower id.
_PG_INGEST_LOCK = 0x4141_6453


@dataclass(frozen=True, slots=True)
class InstanceHead:
    """A stored revision's metadata without its content: what receipts and events show."""

    seq: int
    asset_type: str
    key: str
    revision: int
    created_at: datetime
    sha256: str
    origin: str = OWN

    @property
    def provider(self) -> str | None:
        """The provider's org slug for a record received over a channel; None for our own."""
        return self.origin or None

    def head(self) -> dict[str, Any]:
        return {"assetType": self.asset_type, "key": self.key, "revision": self.revision, "seq": self.seq,
                "createdAt": iso(self.created_at), "sha256": self.sha256, "provider": self.provider}


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedInstance(InstanceHead):
    """A stored revision's metadata and its business JSON as stored: what a list shows."""

    business_raw: bytes

    @classmethod
    def from_row(cls, row: Any) -> ListedInstance:
        return cls(seq=row.id, asset_type=row.asset_type, key=row.instance_key, revision=row.revision,
                   created_at=aware(row.created_at), sha256=row.sha256, origin=row.origin,
                   business_raw=row.business_json)

    def envelope(self) -> bytes:
        """Metadata plus business JSON, ``{…head, "data": {…}}``, written around the stored bytes."""
        return orjson.dumps(self.head())[:-1] + b',"data":' + self.business_raw + b"}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredInstance(InstanceHead):
    """A stored revision with its content, as canonical AAS JSON and as business JSON."""

    shell_id: str
    aas_json: bytes
    business_raw: bytes

    @classmethod
    def from_row(cls, row: Any) -> StoredInstance:
        return cls(seq=row.id, asset_type=row.asset_type, key=row.instance_key, revision=row.revision,
                   created_at=aware(row.created_at), sha256=row.sha256, origin=row.origin, shell_id=row.shell_id,
                   aas_json=row.aas_json, business_raw=row.business_json)

    def business(self) -> dict[str, Any]:
        record: dict[str, Any] = orjson.loads(self.business_raw)
        return record


@dataclass(frozen=True, slots=True)
class Accepted:
    """A record a create took: stored now (``created``), or found stored with the same content (a repeat)."""

    instance: StoredInstance
    created: bool


# What a create answers for one record: taken, or refused with the reason (a conflict, a rule of its model broken,
# files it refers to not stored here). Nothing of a refused record is stored.
Refusal = CoreError | AasModelError
CreateOutcome = Accepted | Refusal


@dataclass(slots=True)
class _Latest:
    """The latest stored revision of a key, as one chunk's transaction sees it (its own inserts included)."""

    id: int
    revision: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class Page:
    items: list[ListedInstance]
    next_cursor: str | None

    def json(self) -> bytes:
        """``{"items": [envelope, …], "nextCursor": …}`` around the stored business JSON."""
        return json_array((i.envelope() for i in self.items), b'{"items":[',
                          b'],"nextCursor":' + orjson.dumps(self.next_cursor) + b"}")


def _utc(moment: datetime) -> datetime:
    # SQLite keeps times as UTC wall-clock text, so a bound must be in UTC before it is compared.
    return aware(moment).astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def aware(moment: datetime) -> datetime:
    """A time without offset is UTC: SQLite hands datetimes back without a zone, and so may a client."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class InstanceService:
    def __init__(self, db: Database, owner: Owner, events: InstanceEvents | None = None, *,
                 on_created: Callable[[str], None] | None = None) -> None:
        self.db = db
        self.owner = owner
        self.events = events or InstanceEvents()
        self.on_created = on_created or (lambda asset_type: None)  # told the asset type of each record stored new

    # -- create ---------------------------------------------------------------------------------
    def create(self, slug: str, payload: bytes | dict[str, Any], *, aas: bool = False) -> tuple[StoredInstance, bool]:
        """Store a record given as business JSON (or AAS JSON with ``aas=True``).

        Returns the stored instance and whether it was newly created (False: idempotent repeat); raises the
        refusal (``InstanceConflict``, ``RecordInvalid``, ``MissingFiles`` …) otherwise.
        """
        (outcome,) = self.create_many(slug, [payload], aas=aas)
        if not isinstance(outcome, Accepted):
            raise outcome
        return outcome.instance, outcome.created

    def create_many(self, slug: str, payloads: Sequence[bytes | dict[str, Any]], *, aas: bool = False,
                    chunk_items: int = 500) -> list[CreateOutcome]:
        """Store records in the order given, each judged on its own as ``create`` judges one; an outcome per record.

        The records are stored ``chunk_items`` to a transaction, each chunk committed before the next is begun:
        what the database refuses (it is away, a disk is full) is raised, and leaves the chunks before stored
        whole and nothing of the rest. Sending all again is safe: a record stored already answers as a repeat.
        A key given twice is judged in order, the second against the first (a repeat, a conflict or a revision).
        """
        spec = self._spec(slug)
        outcomes: list[CreateOutcome] = []
        for start in range(0, len(payloads), chunk_items):
            chunk = payloads[start:start + chunk_items]
            # Rendered outside the transaction: validation is the CPU-heavy part, and it holds no lock.
            outcomes += self._store_chunk(spec, chunk, [self._try_render(spec, p, aas) for p in chunk], aas)
        return outcomes

    def _try_render(self, spec: AssetTypeSpec, payload: bytes | dict[str, Any], aas: bool
                    ) -> RenderedInstance | AasModelError:
        try:
            return self._render(spec, payload, aas, revision=1)
        except AasModelError as exc:
            return exc

    def _render(self, spec: AssetTypeSpec, payload: bytes | dict[str, Any], aas: bool, revision: int
                ) -> RenderedInstance:
        if aas:
            return instance_from_aas(spec.slug, payload, self.owner, revision=revision)
        return render_instance(spec.slug, payload, self.owner, revision=revision)

    def _store_chunk(self, spec: AssetTypeSpec, payloads: Sequence[bytes | dict[str, Any]],
                     rendered: Sequence[RenderedInstance | AasModelError], aas: bool) -> list[CreateOutcome]:
        for attempt in range(2):
            try:
                outcomes = self._store(spec, payloads, rendered, aas)
                break
            except IntegrityError:
                # A concurrent writer stored one of the keys first; the second pass sees it.
                if attempt:
                    raise
        created = sum(1 for o in outcomes if isinstance(o, Accepted) and o.created)
        if created:
            self.events.notify(spec.slug)  # after the commit: streams and the connector read what it stored
            for _ in range(created):
                self.on_created(spec.slug)
        return outcomes

    def _store(self, spec: AssetTypeSpec, payloads: Sequence[bytes | dict[str, Any]],
               rendered: Sequence[RenderedInstance | AasModelError], aas: bool) -> list[CreateOutcome]:
        # Core statements, not the ORM unit of work: this is the ingest hot path, and the latest revisions are
        # compared by digest without loading their (up to MBs of) JSON: one read for the whole chunk.
        keys = sorted({r.key for r in rendered if isinstance(r, RenderedInstance)})
        with self.db.write_session() as session:
            take_ingest_lock(self.db, session)
            latest = {row.instance_key: _Latest(row.id, row.revision, row.sha256, row.created_at)
                      for row in session.execute(_LATEST, {"asset_type": spec.slug, "keys": keys})} if keys else {}
            outcomes: list[CreateOutcome] = []
            for payload, item in zip(payloads, rendered, strict=True):
                if isinstance(item, AasModelError):
                    outcomes.append(item)
                    continue
                try:
                    outcomes.append(self._store_one(session, spec, payload, aas, item, latest))
                except (InstanceConflict, MissingFiles) as refused:  # raised before it wrote anything
                    outcomes.append(refused)
            if any(isinstance(o, Accepted) and o.created for o in outcomes):
                self.events.announce(session, spec.slug)
            session.commit()
        return outcomes

    def _store_one(self, session: Session, spec: AssetTypeSpec, payload: bytes | dict[str, Any], aas: bool,
                   rendered: RenderedInstance, latest: dict[str, _Latest]) -> Accepted:
        """One record inside a chunk's transaction; ``latest`` is kept up to date. A refusal writes nothing."""
        stored = latest.get(rendered.key)
        if stored is not None:
            same = rendered if stored.revision == rendered.revision else self._render(
                spec, payload, aas, revision=stored.revision)
            if same.sha256 == stored.sha256:
                return Accepted(_stored(stored.id, same, stored.created_at), created=False)
            if not spec.versioned:
                raise InstanceConflict(spec.slug, rendered.key, stored.sha256)
            rendered = self._render(spec, payload, aas, revision=stored.revision + 1)
            require_files(session, rendered)  # before the retirement: a refused record leaves the latest as it was
            session.execute(_RETIRE, {"row_id": stored.id})
        created_at = utcnow()
        seq = insert_instance(session, rendered, created_at=created_at, with_submodels=rendered.revision == 1)
        latest[rendered.key] = _Latest(seq, rendered.revision, rendered.sha256, created_at)
        return Accepted(_stored(seq, rendered, created_at), created=True)

    # -- read -----------------------------------------------------------------------------------
    def get(self, slug: str, key: str, revision: int | None = None, *, origin: str = OWN) -> StoredInstance:
        """Our own record (``origin`` "") or one received from the provider ``origin``."""
        self._spec(slug)
        params = {"origin": origin, "asset_type": slug, "key": key}
        row = self.db.fetch_one(_GET, params) if revision is None else self.db.fetch_one(
            _GET_REVISION, {**params, "revision": revision})
        if row is None:
            raise InstanceNotFound(slug, key, revision, origin)
        return StoredInstance.from_row(row)

    def page(self, slug: str, *, created_from: datetime | None = None, created_to: datetime | None = None,
             cursor: str | None = None, limit: int = 100, latest_only: bool = False, origin: str = OWN) -> Page:
        """Instances of one origin created in [created_from, created_to], oldest first, by stable keyset cursor."""
        self._spec(slug)
        created_from = aware(created_from) if created_from else None
        created_to = aware(created_to) if created_to else None
        if created_from and created_to and created_to < created_from:
            raise InvalidRange("'to' is before 'from'; give a range with from <= to")
        # Keyset: the page starts after (createdAt, seq) of the cursor, or at 'from'; an index range scan whatever
        # the page's depth, never an OFFSET.
        after, after_seq = decode_cursor(cursor) if cursor else (_EARLIEST, 0)
        if created_from and aware(after) < created_from:
            after, after_seq = created_from, 0  # (from, 0) comes before every record created at 'from'
        rows = self.db.fetch_all(_PAGE_LATEST if latest_only else _PAGE, {
            "asset_type": slug, "origin": origin, "after": _utc(after), "after_seq": after_seq,
            "to": _utc(created_to or _LATEST_TIME), "n": limit + 1})
        items = [ListedInstance.from_row(r) for r in rows[:limit]]
        nxt = encode_cursor(items[-1].created_at, items[-1].seq) if len(rows) > limit else None
        return Page(items, nxt)

    def after(self, seq: int, limit: int = 500, asset_types: Sequence[str] | None = None) -> list[InstanceHead]:
        """Instances stored after sequence number ``seq`` (own and received), in storage order; no content."""
        query = _HEADS.where(_INSTANCES.c.id > seq)
        if asset_types:
            query = query.where(_INSTANCES.c.asset_type.in_(list(asset_types)))
        with self.db.session() as session:
            rows = session.execute(query.order_by(_INSTANCES.c.id).limit(limit)).all()
        return [InstanceHead(r.id, r.asset_type, r.instance_key, r.revision, aware(r.created_at), r.sha256, r.origin)
                for r in rows]

    def last_seq(self) -> int:
        with self.db.session() as session:
            row = session.exec(select(InstanceRow.id).order_by(col(InstanceRow.id).desc()).limit(1)).first()
        return row or 0

    async def stream(self, after_seq: int, asset_types: Sequence[str] | None = None, *, poll_seconds: float = 2.0,
                     batch: int = 500) -> AsyncIterator[InstanceHead]:
        """Every instance stored after ``after_seq``, then each new one as it is stored; ends only when the server
        stops (``InstanceEvents.close``)."""
        while not self.events.closed:
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
        if slug not in self.registered_slugs():
            raise AssetTypeNotRegistered(slug, sorted(self.registered_slugs()))
        return asset_type(slug)

    def registered_slugs(self) -> frozenset[str]:
        """The slugs of the asset types this AAdSys holds."""
        cached = getattr(self, "_slugs", None)
        if cached is None:
            cached = frozenset(r.slug for r in self.registered_types())
            if cached:
                self._slugs = cached
        return cached


def take_ingest_lock(db: Database, session: Session) -> None:
    """Every transaction that inserts instances takes this first (see ``_PG_INGEST_LOCK``)."""
    if db.is_postgres:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INGEST_LOCK})


def retire(session: Session, row_id: int) -> None:
    session.execute(_RETIRE, {"row_id": row_id})


def require_files(session: Session, rendered: RenderedInstance) -> None:
    """``MissingFiles`` if the record refers to files not stored here."""
    if rendered.file_digests:
        held = set(session.execute(_FILES_HELD, {"digests": list(rendered.file_digests)}).scalars())
        missing = [d for d in rendered.file_digests if d not in held]
        if missing:
            raise MissingFiles(missing)


def insert_instance(session: Session, rendered: RenderedInstance, *, created_at: datetime, with_submodels: bool,
                    origin: str = OWN, is_latest: bool = True, subscription_id: str | None = None,
                    received_at: datetime | None = None) -> int:
    """Insert one revision (the one way rows enter ``instances``); returns its seq. The caller commits.

    Refuses with ``MissingFiles`` a record that refers to files not stored here. ``with_submodels`` indexes
    the submodel ids for the Part 2 API: once per record, as they are stable across revisions.
    """
    require_files(session, rendered)
    seq: int = session.execute(_INSERT, {
        "asset_type": rendered.asset_type, "instance_key": rendered.key, "revision": rendered.revision,
        "is_latest": is_latest, "created_at": created_at, "sha256": rendered.sha256, "shell_id": rendered.shell_id,
        "shell_id_short": rendered.shell_id_short, "global_asset_id": rendered.global_asset_id,
        "aas_json": rendered.aas_json, "business_json": rendered.business_bytes, "value_json": rendered.value_json[0],
        "spans": Spans.of(rendered).format(), "origin": origin, "subscription_id": subscription_id,
        "received_at": received_at,
    }).scalar_one()
    if with_submodels:
        session.execute(_INSERT_SUBMODEL, [
            {"submodel_id": sm.id, "shell_id": rendered.shell_id, "asset_type": rendered.asset_type,
             "instance_key": rendered.key, "semantic_id": sm.semantic_id, "id_short": sm.id_short,
             "first_seen": seq, "position": position}
            for position, sm in enumerate(rendered.submodels)])
    return seq


def _stored(seq: int, rendered: RenderedInstance, created_at: datetime) -> StoredInstance:
    return StoredInstance(seq=seq, asset_type=rendered.asset_type, key=rendered.key, revision=rendered.revision,
                          created_at=aware(created_at), sha256=rendered.sha256, shell_id=rendered.shell_id,
                          aas_json=rendered.aas_json, business_raw=rendered.business_bytes)


def encode_cursor(created_at: datetime, seq: int) -> str:
    raw = orjson.dumps([iso(created_at), seq])
    return base64url.encode(raw)


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        created, seq = orjson.loads(base64url.decode(cursor))
        return datetime.fromisoformat(created.replace("Z", "+00:00")), int(seq)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursor() from None

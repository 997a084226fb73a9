"""The inbox: the one way records received over a connector channel enter this AAdSys's store (DESIGN §5.3).

A received record keeps its provider's identifiers and canonical bytes, with its provenance (provider,
subscription, received-at), keyed under the provider's org slug so it never mixes with our own records.
Before anything is stored, each record is checked against its asset type: the business record is read
through the template, validated with every rule of its model and rendered again under the provider's
identifiers; only a byte-for-byte match is stored. Duplicates, by (subscription, instance key, sha256), are
dropped inside the same transaction and reported as such, so a re-sent message is stored exactly once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from aadsys.core.db import Database
from aadsys.core.errors import CoreError
from aadsys.core.events import InstanceEvents
from aadsys.core.instances import insert_instance, retire, take_ingest_lock
from aadsys.core.tables import InboxRow, InstanceRow, table_of, utcnow
from aas_models import AasModelError, Owner, RenderedInstance, asset_type, business_json, render_instance

_INBOX = table_of(InboxRow)
_INSTANCES = table_of(InstanceRow)
# Two reads per batch, not three per record: what the subscription delivered already, and every stored revision
# of the batch's records (metadata only). The batch is then worked through in memory, in order.
_SEEN = select(_INBOX.c.instance_key, _INBOX.c.sha256, _INBOX.c.instance_id).where(
    _INBOX.c.subscription_id == bindparam("subscription_id"),
    _INBOX.c.instance_key.in_(bindparam("keys", expanding=True)))
_REVISIONS = select(_INSTANCES.c.id, _INSTANCES.c.asset_type, _INSTANCES.c.instance_key, _INSTANCES.c.revision,
                    _INSTANCES.c.sha256, _INSTANCES.c.is_latest).where(
    _INSTANCES.c.origin == bindparam("origin"), _INSTANCES.c.asset_type.in_(bindparam("types", expanding=True)),
    _INSTANCES.c.instance_key.in_(bindparam("keys", expanding=True)))
_RECORD = insert(_INBOX)


@dataclass(slots=True)
class _Stored:
    """One stored revision of a record, as the batch sees it."""

    id: int
    sha256: str
    is_latest: bool


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a batch of records comes from."""

    subscription_id: str
    provider: Owner  # the provider AAdSys's org slug and IRI base: its records keep their ids
    provider_org_id: str  # the provider's organisation at the portal


@dataclass(frozen=True, slots=True)
class Arrival:
    """One record as it came off the channel: decrypted, its signature and sha256 checked already."""

    seq: int
    asset_type: str
    key: str
    revision: int
    created_at: datetime
    sha256: str
    aas_json: bytes


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Receipt:
    seq: int
    outcome: Outcome
    instance_seq: int  # where the record lives here (``instances.id``)


class RecordRefused(CoreError):
    """A received record that is not the canonical rendering of a valid record of its asset type."""

    def __init__(self, seq: int, reason: str) -> None:
        self.seq, self.reason = seq, reason
        super().__init__(f"record seq {seq} refused: {reason}")


class Inbox:
    def __init__(self, db: Database, events: InstanceEvents) -> None:
        self.db = db
        self.events = events

    def check(self, provenance: Provenance, arrival: Arrival) -> RenderedInstance:
        """The record re-rendered under the provider's ids, if it is exactly what arrived; else ``RecordRefused``."""
        try:
            if arrival.revision != 1 and not asset_type(arrival.asset_type).versioned:
                raise RecordRefused(arrival.seq, f"{arrival.asset_type} records have one revision only, not "
                                                 f"{arrival.revision}")
            record = business_json(arrival.asset_type, arrival.aas_json)
            rendered = render_instance(arrival.asset_type, record, provenance.provider, revision=arrival.revision)
        except (AasModelError, LookupError, ValueError, TypeError, AttributeError) as exc:
            raise RecordRefused(arrival.seq, f"not a valid {arrival.asset_type} record: {exc}") from None
        if rendered.key != arrival.key:
            raise RecordRefused(arrival.seq, f"the record's key is '{rendered.key}', the message says '{arrival.key}'")
        if rendered.sha256 != arrival.sha256 or rendered.aas_json != arrival.aas_json:
            raise RecordRefused(arrival.seq, "the bytes are not the canonical rendering of the record under the "
                                             f"provider's identifiers ({provenance.provider.base_iri})")
        return rendered

    def store(self, provenance: Provenance, checked: Sequence[tuple[Arrival, RenderedInstance]], *,
              guard: Callable[[Session], None] | None = None) -> list[Receipt]:
        """Store checked records in one transaction, in the order given; duplicates are dropped and reported.

        Raises ``MissingFiles`` if a record refers to a file not stored here yet (nothing is stored then).
        ``guard`` runs inside the transaction before it commits; what it raises rolls the batch back (a worker's
        fence: its lease still holds).
        """
        for attempt in range(2):
            try:
                receipts = self._store(provenance, checked, guard)
                break
            except IntegrityError:
                if attempt:  # a concurrent writer of the same records; the second pass sees its rows
                    raise
        if any(r.outcome is Outcome.STORED for r in receipts):
            self.events.notify()
        return receipts

    def _store(self, provenance: Provenance, checked: Sequence[tuple[Arrival, RenderedInstance]],
               guard: Callable[[Session], None] | None) -> list[Receipt]:
        origin, now, subscription = provenance.provider.org, utcnow(), provenance.subscription_id
        keys = sorted({rendered.key for _, rendered in checked})
        receipts: list[Receipt] = []
        with self.db.write_session() as session:
            take_ingest_lock(self.db, session)
            seen = {(row.instance_key, row.sha256): row.instance_id
                    for row in session.execute(_SEEN, {"subscription_id": subscription, "keys": keys})}
            stored: dict[tuple[str, str], dict[int, _Stored]] = defaultdict(dict)
            for row in session.execute(_REVISIONS, {"origin": origin, "keys": keys,
                                                    "types": sorted({r.asset_type for _, r in checked})}):
                stored[row.asset_type, row.instance_key][row.revision] = _Stored(row.id, row.sha256, row.is_latest)
            records = []
            for arrival, rendered in checked:
                instance_seq = seen.get((rendered.key, rendered.sha256))
                if instance_seq is not None:
                    receipts.append(Receipt(arrival.seq, Outcome.DUPLICATE, instance_seq))
                    continue
                revisions = stored[rendered.asset_type, rendered.key]
                instance_seq = self._store_one(session, provenance, now, arrival, rendered, revisions)
                seen[rendered.key, rendered.sha256] = instance_seq
                records.append({"subscription_id": subscription, "provider_org": provenance.provider_org_id,
                                "seq": arrival.seq, "asset_type": rendered.asset_type, "instance_key": rendered.key,
                                "sha256": rendered.sha256, "instance_id": instance_seq, "received_at": now})
                receipts.append(Receipt(arrival.seq, Outcome.STORED, instance_seq))
            if records:
                session.execute(_RECORD, records)
                self.events.announce(session)
            if guard is not None:
                guard(session)
            session.commit()
        return receipts

    @staticmethod
    def _store_one(session: Session, provenance: Provenance, now: datetime, arrival: Arrival,
                   rendered: RenderedInstance, revisions: dict[int, _Stored]) -> int:
        """The instance a new arrival is: a revision stored already (by another subscription), or a new row;
        ``revisions`` (this record's stored revisions) is kept up to date."""
        same_revision = revisions.get(rendered.revision)
        if same_revision is not None:
            if same_revision.sha256 != rendered.sha256:
                raise RecordRefused(arrival.seq, f"revision {rendered.revision} of {rendered.asset_type} "
                                                 f"'{rendered.key}' is stored here with other content")
            return same_revision.id  # the same record, come by another subscription of the same provider
        latest = next(((n, r) for n, r in revisions.items() if r.is_latest), None)
        newest = latest is None or latest[0] < rendered.revision
        if newest and latest is not None:
            retire(session, latest[1].id)
            latest[1].is_latest = False
        instance_seq = insert_instance(session, rendered, created_at=arrival.created_at,
                                       with_submodels=latest is None, origin=provenance.provider.org,
                                       is_latest=newest, subscription_id=provenance.subscription_id, received_at=now)
        revisions[rendered.revision] = _Stored(instance_seq, rendered.sha256, newest)
        return instance_seq

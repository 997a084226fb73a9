"""The inbox: the one way records received over a connector channel enter this AAdSys's store (DESIGN §5.3).

A received record keeps its provider's identifiers and canonical bytes, with its provenance (provider,
subscription, received-at), keyed under the provider's org slug so it never mixes with our own records.
Before anything is stored, each record is checked against its asset type: the business record is read
through the template, validated with every rule of its model and rendered again under the provider's
identifiers; only a byte-for-byte match is stored. Duplicates, by (subscription, instance key, sha256), are
dropped inside the same transaction and reported as such, so a re-sent message is stored exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from aadsys.core.db import Database
from aadsys.core.errors import CoreError
from aadsys.core.events import InstanceEvents
from aadsys.core.instances import (
    insert_instance,
    latest_revision,
    retire,
    take_ingest_lock,
)
from aadsys.core.tables import InboxRow, InstanceRow, table_of, utcnow
from aas_models import AasModelError, Owner, RenderedInstance, asset_type, business_json, render_instance

_INBOX = table_of(InboxRow)
_INSTANCES = table_of(InstanceRow)
_SEEN = select(_INBOX.c.instance_id).where(
    _INBOX.c.subscription_id == bindparam("subscription_id"), _INBOX.c.instance_key == bindparam("key"),
    _INBOX.c.sha256 == bindparam("sha256"))
_RECORD = insert(_INBOX)
_REVISION = select(_INSTANCES.c.id, _INSTANCES.c.sha256).where(
    _INSTANCES.c.origin == bindparam("origin"), _INSTANCES.c.asset_type == bindparam("asset_type"),
    _INSTANCES.c.instance_key == bindparam("key"), _INSTANCES.c.revision == bindparam("revision"))


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

    def store(self, provenance: Provenance, checked: Sequence[tuple[Arrival, RenderedInstance]]) -> list[Receipt]:
        """Store checked records in one transaction, in the order given; duplicates are dropped and reported.

        Raises ``MissingFiles`` if a record refers to a file not stored here yet (nothing is stored then).
        """
        for attempt in range(2):
            try:
                receipts = self._store(provenance, checked)
                break
            except IntegrityError:
                if attempt:  # a concurrent writer of the same records; the second pass sees its rows
                    raise
        if any(r.outcome is Outcome.STORED for r in receipts):
            self.events.notify()
        return receipts

    def _store(self, provenance: Provenance, checked: Sequence[tuple[Arrival, RenderedInstance]]) -> list[Receipt]:
        origin, now = provenance.provider.org, utcnow()
        receipts: list[Receipt] = []
        with self.db.write_session() as session:
            take_ingest_lock(self.db, session)
            for arrival, rendered in checked:
                receipts.append(self._store_one(session, provenance, origin, now, arrival, rendered))
            session.commit()
        return receipts

    @staticmethod
    def _store_one(session: Session, provenance: Provenance, origin: str, now: datetime, arrival: Arrival,
                   rendered: RenderedInstance) -> Receipt:
        seen = session.execute(_SEEN, {"subscription_id": provenance.subscription_id, "key": rendered.key,
                                       "sha256": rendered.sha256}).scalar()
        if seen is not None:
            return Receipt(arrival.seq, Outcome.DUPLICATE, seen)
        same_revision = session.execute(_REVISION, {"origin": origin, "asset_type": rendered.asset_type,
                                                     "key": rendered.key, "revision": rendered.revision}).first()
        latest = latest_revision(session, origin, rendered.asset_type, rendered.key)
        if same_revision is not None:
            if same_revision.sha256 != rendered.sha256:
                raise RecordRefused(arrival.seq, f"revision {rendered.revision} of {rendered.asset_type} "
                                                 f"'{rendered.key}' is stored here with other content")
            instance_seq = same_revision.id  # the same record, come by another subscription of the same provider
        else:
            newest = latest is None or latest.revision < rendered.revision
            if newest and latest is not None:
                retire(session, latest.id)
            instance_seq = insert_instance(session, rendered, created_at=arrival.created_at,
                                           with_submodels=latest is None, origin=origin, is_latest=newest,
                                           subscription_id=provenance.subscription_id, received_at=now)
        session.execute(_RECORD, {"subscription_id": provenance.subscription_id,
                                  "provider_org": provenance.provider_org_id, "seq": arrival.seq,
                                  "asset_type": rendered.asset_type, "instance_key": rendered.key,
                                  "sha256": rendered.sha256, "instance_id": instance_seq, "received_at": now})
        return Receipt(arrival.seq, Outcome.STORED, instance_seq)

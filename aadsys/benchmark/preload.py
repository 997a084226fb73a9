"""Sales Orders stored in an AAdSys's database before it starts, as if its business API had taken them over time.

A historical replay of 100,000 records needs them stored first, and posting that many over HTTP takes longer
than the replay. So this writes them straight into the database of an initialised AAdSys that is not serving
yet, through the same code the instance service creates records with: ``aas_models.render_instance`` renders
and validates each (what ``InstanceService.create`` does with business JSON), and ``insert_instance`` after
``take_ingest_lock`` stores it, a thousand to a transaction. The one difference is ``createdAt``: spread
evenly over a chosen range in the past, both bounds included, instead of the moment of the POST.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from aadsys.benchmark.records import order
from aadsys.config import Settings
from aadsys.core.db import Database
from aadsys.core.instances import InstanceService, insert_instance, take_ingest_lock
from aas_models import Owner, render_instance

ASSET_TYPE = "sales-order"
BATCH = 1000  # records per transaction
SIZE_SAMPLE = 200  # every so many records, one adds to the mean sizes


@dataclass
class Preloaded:
    """What was stored inside the range, in createdAt order (which is the order a historical transfer numbers
    them: seq 1, 2, 3 …), and how many just outside it."""

    range_from: datetime
    range_to: datetime
    keys: list[str] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)
    outside_keys: list[str] = field(default_factory=list)
    seconds: float = 0.0
    business_bytes: list[int] = field(default_factory=list)  # a sample
    aas_bytes: list[int] = field(default_factory=list)  # the same sample

    @property
    def count(self) -> int:
        return len(self.keys)

    def digest(self) -> str:
        """The digest both connectors report for a transfer of exactly this range."""
        return transfer_digest(enumerate(zip(self.keys, self.sha256, strict=True), start=1))

    def sizes(self) -> tuple[float, float]:
        """Mean business JSON and AAS JSON bytes of the sample."""
        return (statistics.fmean(self.business_bytes) if self.business_bytes else 0.0,
                statistics.fmean(self.aas_bytes) if self.aas_bytes else 0.0)


def transfer_digest(lines: Iterable[tuple[int, tuple[str, str]]]) -> str:
    """sha256 over ``seq:key:sha256`` lines in seq order (connector/README.md, "Channel protocol" 5), computed here
    on our own to check what the connectors report."""
    digest = hashlib.sha256()
    for seq, (key, sha) in lines:
        digest.update(f"{seq}:{key}:{sha}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def spread(count: int, range_from: datetime, range_to: datetime) -> list[datetime]:
    """``count`` distinct moments evenly over [range_from, range_to], the first and last on the bounds (to the
    microsecond, the resolution every database of ours keeps)."""
    if count == 1:
        return [range_from]
    span = (range_to - range_from) // timedelta(microseconds=1)
    if span < count - 1:
        raise ValueError(f"{count} distinct moments do not fit in {range_to - range_from}")
    return [range_from + timedelta(microseconds=n * span // (count - 1)) for n in range(count)]


def preload(settings: Settings, count: int, range_from: datetime, range_to: datetime, *, tag: str,
            rng: random.Random, outside: int = 0, batch: int = BATCH,
            advance: Callable[[int], None] | None = None) -> Preloaded:
    """Store ``count`` fresh 2 KB Sales Orders created in [range_from, range_to] (and ``outside`` more a second
    or more before and after it) in the AAdSys of ``settings``, which must be initialised and not serving.
    ``advance(n)`` is called after each committed batch of ``n``."""
    owner = Owner(settings.org, settings.base_iri)
    db = Database(settings.resolved_database_url)
    loaded = Preloaded(range_from, range_to)
    plan = ([(range_from - timedelta(seconds=outside - n), f"HI-{tag}-before-{n}", False) for n in range(outside)]
            + [(moment, f"HI-{tag}-{n:07d}", True) for n, moment in enumerate(spread(count, range_from, range_to))]
            + [(range_to + timedelta(seconds=n + 1), f"HI-{tag}-after-{n}", False) for n in range(outside)])
    began = time.perf_counter()
    try:
        InstanceService(db, owner).get_spec(ASSET_TYPE)  # AssetTypeNotRegistered unless `aadsys init` ran
        for start in range(0, len(plan), batch):
            _store(db, owner, plan[start:start + batch], rng, loaded, start)
            if advance is not None:
                advance(len(plan[start:start + batch]))
    finally:
        db.dispose()
    loaded.seconds = time.perf_counter() - began
    return loaded


def _store(db: Database, owner: Owner, chunk: Sequence[tuple[datetime, str, bool]], rng: random.Random,
           loaded: Preloaded, offset: int) -> None:
    rendered = []
    for n, (created_at, key, inside) in enumerate(chunk, start=offset):
        record = order(key, rng, ordered_at=created_at)
        instance = render_instance(ASSET_TYPE, record, owner)
        rendered.append((created_at, instance))
        if inside:
            loaded.keys.append(instance.key)
            loaded.sha256.append(instance.sha256)
        else:
            loaded.outside_keys.append(instance.key)
        if n % SIZE_SAMPLE == 0:
            loaded.business_bytes.append(len(orjson.dumps(record)))
            loaded.aas_bytes.append(len(instance.aas_json))
    with db.write_session() as session:
        take_ingest_lock(db, session)
        for created_at, instance in rendered:
            insert_instance(session, instance, created_at=created_at, with_submodels=True)
        session.commit()

"""The bottling line: six simulated stations as an asyncio simulation in the server process.

Each station holds one bottle at a time. A bottle keeps its station until the next one is free (it takes the
next station's lock before it lets go of its own), so bottles flow through pipelined and never overtake. Every
pass is written to the RFID trace when the bottle leaves the station. Everything the line decides is committed
on the event loop, one transaction per step, together with the Sales Order Status revision it causes.

With a ``seed`` each draw (processing time, failure) comes from a generator seeded by (seed, tag, station,
attempt) and tags are derived from the seed too, so a run is reproducible however the tasks interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from omis_line import mes, status_outbox
from omis_line.clock import utcnow
from omis_line.config import STATIONS, Settings
from omis_line.db import Database
from omis_line.metrics import LineMetrics
from omis_line.models import (
    Bottle,
    BottleState,
    LabelImage,
    OrderState,
    ProductionOrder,
    ProductionState,
    SalesOrder,
    TraceEvent,
)

log = logging.getLogger(__name__)

TAG_PREFIX = "E280-1160-"


@dataclass(frozen=True)
class BottleJob:
    rfid_tag: str
    production_order_id: int
    sales_order_id: str
    label_sha256: str | None
    first_of_order: bool


@dataclass(frozen=True)
class Occupant:
    rfid_tag: str
    sales_order_id: str
    production_order_id: int
    since: datetime


class Line:
    def __init__(self, database: Database, settings: Settings, *, on_decided: Callable[[], None] | None = None,
                 metrics: LineMetrics | None = None) -> None:
        self.database = database
        self.settings = settings
        self.metrics = metrics or LineMetrics()
        self.on_decided = on_decided or (lambda: None)
        self.locks = {station: asyncio.Lock() for station in STATIONS}
        self.occupancy: dict[str, Occupant | None] = dict.fromkeys(STATIONS)
        self.wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._failed_orders: set[str] = set()
        self._flows: set[asyncio.Task[None]] = set()
        self._rng = random.Random()

    # --- start-up -------------------------------------------------------------------------------------------

    def recover(self) -> int:
        """Bottles that were in the line when the process stopped start again at loading; returns how many."""
        with self.database.session() as session:
            stranded = session.exec(select(Bottle).where(Bottle.state == BottleState.IN_LINE)).all()
            for bottle in stranded:
                bottle.state = BottleState.PENDING
            self._failed_orders = set(session.exec(select(SalesOrder.order_id)
                                                   .where(SalesOrder.state == OrderState.FAILED)).all())
            session.commit()
        if stranded:
            log.info("re-queued %d bottle(s) that were in the line at the last stop", len(stranded))
        return len(stranded)

    async def run(self) -> None:
        """The feeder: schedules new orders (MES), then loads the next bottle whenever loading is free."""
        while True:
            with self.database.session() as session:
                if mes.schedule_received(session):
                    self.on_decided()
                    self._touch()
            await self.locks["loading"].acquire()
            job = self._load_next()
            if job is None:
                self.locks["loading"].release()
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):  # not wait_for: on 3.11 it can swallow a cancellation
                        await self.wake.wait()
                continue
            task = asyncio.create_task(self._flow(job), name=f"bottle {job.rfid_tag}")
            self._flows.add(task)
            task.add_done_callback(self._flow_ended)

    def _flow_ended(self, task: asyncio.Task[None]) -> None:
        self._flows.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # the bottle stays 'in_line' in the database and starts again at loading after the next restart
            log.error("%s stopped unexpectedly", task.get_name(), exc_info=task.exception())

    async def changed(self, timeout: float) -> None:
        """Returns when the line changed (or after ``timeout``): for live pages."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- loading --------------------------------------------------------------------------------------------

    def _load_next(self) -> BottleJob | None:
        """The next bottle of the oldest queued production order that still needs one, marked as in the line."""
        with self.database.session() as session:
            queued = session.exec(select(ProductionOrder).where(ProductionOrder.state == ProductionState.QUEUED)
                                  .order_by(col(ProductionOrder.queue_seq))).all()
            for production in queued:
                assert production.id is not None
                bottle = session.exec(select(Bottle).where(Bottle.production_order_id == production.id,
                                                           Bottle.state == BottleState.PENDING)
                                      .order_by(col(Bottle.loaded_at)).limit(1)).first()
                if bottle is None:
                    made = session.exec(select(func.count()).select_from(Bottle)
                                        .where(Bottle.production_order_id == production.id)).one()
                    if made >= production.quantity:
                        continue
                    bottle = Bottle(rfid_tag=self._new_tag(production, made), production_order_id=production.id,
                                    sales_order_id=production.sales_order_id, state=BottleState.IN_LINE)
                    session.add(bottle)
                else:
                    bottle.state = BottleState.IN_LINE
                    bottle.loaded_at = utcnow()
                order = session.get(SalesOrder, production.sales_order_id)
                assert order is not None
                if order.first_rfid_tag is None:
                    order.first_rfid_tag = bottle.rfid_tag
                if order.state == OrderState.SCHEDULED:
                    order.state = OrderState.IN_PRODUCTION
                session.commit()
                return BottleJob(bottle.rfid_tag, production.id, production.sales_order_id, production.label_sha256,
                                 first_of_order=order.first_rfid_tag == bottle.rfid_tag)
        return None

    def _new_tag(self, production: ProductionOrder, ordinal: int) -> str:
        if self.settings.seed is None:
            return TAG_PREFIX + secrets.token_hex(6).upper()
        basis = f"{self.settings.seed}|{production.sales_order_id}|{production.item_index}|{ordinal}"
        return TAG_PREFIX + hashlib.sha256(basis.encode()).hexdigest()[:12].upper()

    # --- one bottle's way through the line ------------------------------------------------------------------

    async def _flow(self, job: BottleJob) -> None:
        entered = utcnow()
        for index, station in enumerate(STATIONS):  # the lock of ``station`` is held here
            self.occupancy[station] = Occupant(job.rfid_tag, job.sales_order_id, job.production_order_id, entered)
            self._touch()
            if job.sales_order_id in self._failed_orders:
                self._scrap(job)
                self._leave(station)
                return
            if job.first_of_order:
                self._announce(job, station, entered)
            printed: str | None = None
            attempt = 0
            while True:
                rng = self._draws(job, station, attempt)
                await asyncio.sleep(rng.uniform(*self.settings.station_range))
                failed = rng.random() < self.settings.failure_chance(station)
                unprintable = False
                if station == "printing" and not failed:
                    printed = self._print(job)
                    unprintable = job.label_sha256 is not None and printed != job.label_sha256
                if not failed and not unprintable:
                    break
                now = utcnow()
                if not unprintable and self.settings.failure_policy == "rework" and attempt < self.settings.max_reworks:
                    self._record(job, station, entered, now, "rework")
                    attempt, entered = attempt + 1, now
                    continue
                self._fail(job, station, entered, now)
                self._leave(station)
                return
            if index + 1 < len(STATIONS):
                await self.locks[STATIONS[index + 1]].acquire()
                left = utcnow()
                self._record(job, station, entered, left, "ok", printed)
                self._leave(station)
                entered = left
            else:
                self._finish(job, station, entered, utcnow())
                self._leave(station)

    def _leave(self, station: str) -> None:
        self.occupancy[station] = None
        self.locks[station].release()
        self._touch()
        self.wake.set()

    def _draws(self, job: BottleJob, station: str, attempt: int) -> random.Random:
        if self.settings.seed is None:
            return self._rng
        return random.Random(f"{self.settings.seed}|{job.rfid_tag}|{station}|{attempt}")

    def _print(self, job: BottleJob) -> str | None:
        """'Prints' the label: the SHA-256 of the stored image bytes, or None when there is no image to print."""
        if job.label_sha256 is None:
            return None
        with self.database.session() as session:
            image = session.get(LabelImage, job.label_sha256)
            return hashlib.sha256(image.data).hexdigest() if image is not None else None

    # --- what the line writes -------------------------------------------------------------------------------

    def _announce(self, job: BottleJob, station: str, entered: datetime) -> None:
        """``in_production`` at ``station``: once per station, for the order's first bottle only."""
        with self.database.session() as session:
            order = session.get(SalesOrder, job.sales_order_id)
            assert order is not None
            if station in order.announced_stations or order.state != OrderState.IN_PRODUCTION:
                return
            order.announced_stations = [*order.announced_stations, station]
            status_outbox.decide(session, order.order_id, OrderState.IN_PRODUCTION, station=station,
                                 rfid_tag=job.rfid_tag, at=entered)
            session.commit()
        self.on_decided()

    def _record(self, job: BottleJob, station: str, entered: datetime, left: datetime, result: str,
                printed: str | None = None, session: Session | None = None) -> None:
        def add(db: Session) -> None:
            db.add(TraceEvent(rfid_tag=job.rfid_tag, production_order_id=job.production_order_id,
                              sales_order_id=job.sales_order_id, station=station, entered=entered, left=left,
                              result=result))
            if printed is not None:
                bottle = db.get(Bottle, job.rfid_tag)
                assert bottle is not None
                bottle.printed_sha256 = printed

        if session is not None:
            add(session)
        else:
            with self.database.session() as db:
                add(db)
                db.commit()
        self.metrics.passes.labels(station=station, result=result).inc()

    def _scrap(self, job: BottleJob) -> None:
        with self.database.session() as session:
            bottle = session.get(Bottle, job.rfid_tag)
            assert bottle is not None
            bottle.state, bottle.finished_at = BottleState.SCRAPPED, utcnow()
            session.commit()

    def _fail(self, job: BottleJob, station: str, entered: datetime, left: datetime) -> None:
        """The bottle failed for good: it, its production orders and its Sales Order fail (one commit)."""
        with self.database.session() as session:
            self._record(job, station, entered, left, "failed", session=session)
            bottle = session.get(Bottle, job.rfid_tag)
            order = session.get(SalesOrder, job.sales_order_id)
            assert bottle is not None and order is not None
            bottle.state, bottle.finished_at = BottleState.FAILED, left
            if order.state not in (OrderState.FAILED, OrderState.COMPLETED):
                order.state = OrderState.FAILED
                for production in session.exec(select(ProductionOrder)
                                               .where(ProductionOrder.sales_order_id == order.order_id)).all():
                    production.state = ProductionState.FAILED
                for waiting in session.exec(select(Bottle).where(Bottle.sales_order_id == order.order_id,
                                                                 Bottle.state == BottleState.PENDING)).all():
                    waiting.state, waiting.finished_at = BottleState.SCRAPPED, left
                status_outbox.decide(session, order.order_id, OrderState.FAILED, station=station,
                                     rfid_tag=job.rfid_tag, at=left)
            session.commit()
        self._failed_orders.add(job.sales_order_id)
        log.info("Sales Order %s failed: bottle %s at %s", job.sales_order_id, job.rfid_tag, station)
        self.on_decided()

    def _finish(self, job: BottleJob, station: str, entered: datetime, left: datetime) -> None:
        """The bottle is packaged: it is good; its production order and Sales Order complete with their last one."""
        decided = False
        with self.database.session() as session:
            self._record(job, station, entered, left, "ok", session=session)
            bottle = session.get(Bottle, job.rfid_tag)
            production = session.get(ProductionOrder, job.production_order_id)
            order = session.get(SalesOrder, job.sales_order_id)
            assert bottle is not None and production is not None and order is not None
            bottle.state, bottle.finished_at = BottleState.GOOD, left
            good = session.exec(select(func.count()).select_from(Bottle).where(
                Bottle.production_order_id == production.id, Bottle.state == BottleState.GOOD)).one()
            if good >= production.quantity and production.state == ProductionState.QUEUED:
                production.state = ProductionState.DONE
                session.flush()
                open_ = session.exec(select(func.count()).select_from(ProductionOrder).where(
                    ProductionOrder.sales_order_id == order.order_id,
                    ProductionOrder.state != ProductionState.DONE)).one()
                if open_ == 0 and order.state == OrderState.IN_PRODUCTION:
                    order.state, order.completed_at = OrderState.COMPLETED, left
                    status_outbox.decide(session, order.order_id, OrderState.COMPLETED, rfid_tag=job.rfid_tag,
                                         at=left)
                    decided = True
            session.commit()
        if decided:
            self.on_decided()

    async def stop(self) -> None:
        for task in list(self._flows):
            task.cancel()
        await asyncio.gather(*self._flows, return_exceptions=True)

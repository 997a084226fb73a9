"""Leases: which worker of one AAdSys runs which work, in its database (EDC's pattern), plus a fencing epoch.

N workers share one database (``aadsys serve --workers N``, or processes on several hosts with one
``database_url``). The work that must run in one place at a time is leased, one lease per subject:

- ``(subscription, provider)``: the provider's flow of a subscription (its record maker and sender, and the
  consumer's channel while it is open);
- ``(subscription, consumer)``: the consumer's reception of a subscription;
- ``(control, control)``: the control plane's rounds with the portal.

A lease has a holder, an expiry and an epoch. It is taken when free or expired, and every take raises the epoch
by one; the holder renews all its leases in one statement every third of their time to live. Every state change
a holder makes on behalf of a subject runs ``Fence.check`` in its own transaction: the lease row is read with a
share lock and must still name this worker at this epoch. So a worker paused past its lease (SIGSTOP, a long GC,
a network partition) can write nothing once another took over: its transaction finds another epoch and rolls
back, with ``LeaseLost``. On PostgreSQL the share lock makes a take-over wait for a holder's transaction in
flight, and ``idle_in_transaction_session_timeout`` ends a transaction whose worker stopped in the middle.

Times are the workers' clocks (hosts keep them in step with NTP); a clock that drifts can only make two workers
believe they hold one lease, and the fence stops the older one from writing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from aadsys.core.db import Database
from aadsys.core.instances import aware
from aadsys.core.notifications import Notifications, listening
from aadsys.core.tables import table_of
from connector._clock import Clock
from connector._metrics import ConnectorMetrics
from connector.errors import ConnectorError
from connector.tables import LeaseRow

log = logging.getLogger("connector")
_L = table_of(LeaseRow)
CONTROL = "control"


class LeaseLost(ConnectorError):
    """Another worker took this lease over: the work it covered stops here, and nothing more is written."""

    def __init__(self, subject: str, role: str, epoch: int) -> None:
        self.subject, self.role, self.epoch = subject, role, epoch
        super().__init__(f"the {role} lease of {subject} (epoch {epoch}) was taken over by another worker")


@dataclass(frozen=True)
class Fence:
    """What a holder's writes carry: its lease and epoch. ``check`` inside the write's transaction."""

    leases: Leases
    subject: str
    role: str
    epoch: int

    def check(self, session: Session) -> None:
        query = select(_L.c.holder, _L.c.epoch).where(_L.c.subject == self.subject, _L.c.role == self.role)
        if self.leases.db.is_postgres:
            query = query.with_for_update(read=True)
        row = session.execute(query).first()
        if row is None or row.holder != self.leases.holder or row.epoch != self.epoch:
            self.leases.fenced()
            raise LeaseLost(self.subject, self.role, self.epoch)


@dataclass(frozen=True)
class Renewal:
    held: dict[tuple[str, str], int]  # (subject, role) -> epoch, of every lease this worker still holds
    asked: set[tuple[str, str]]  # of those, the ones another worker asked for


class Leases:
    """The leases of one worker (``holder``). Blocking database work: async callers run it in a thread."""

    def __init__(self, db: Database, holder: str, ttl_seconds: float, clock: Clock,
                 metrics: ConnectorMetrics) -> None:
        self.db, self.holder, self.clock, self.metrics = db, holder, clock, metrics
        self.refused = self.takeovers = 0  # this worker's fenced writes and takeovers (its status; metrics add up)
        self.ttl = timedelta(seconds=ttl_seconds)

    def fenced(self) -> None:
        """A write of this worker that its fence refused (a zombie's write that did not happen): counted in the
        metrics, and in this worker's own status."""
        self.metrics.write_fenced()
        self.refused += 1

    def _key(self, subject: str, role: str) -> ColumnElement[bool]:
        return (_L.c.subject == subject) & (_L.c.role == role)

    def take(self, subject: str, role: str) -> Fence | None:
        """The lease if it is free, expired, or already ours (renewed); None while another worker holds it."""
        now = self.clock.now()
        with self.db.write_session() as session:
            query = select(_L).where(self._key(subject, role))
            if self.db.is_postgres:
                query = query.with_for_update()
            row = session.execute(query).first()
            if row is None:
                try:
                    session.execute(insert(_L).values(subject=subject, role=role, holder=self.holder, epoch=1,
                                                      expires_at=now + self.ttl))
                    session.commit()
                except IntegrityError:  # another worker made it first
                    return None
                return Fence(self, subject, role, 1)
            taken_over = False
            if row.holder == self.holder:
                epoch = row.epoch
            elif row.holder is None or aware(row.expires_at) <= now:
                epoch, taken_over = row.epoch + 1, row.holder is not None
                if taken_over:
                    log.info("took over the %s lease of %s from %s (expired %s)", role, subject, row.holder,
                             aware(row.expires_at).isoformat())
            else:
                return None
            session.execute(update(_L).where(self._key(subject, role)).values(
                holder=self.holder, epoch=epoch, expires_at=now + self.ttl, wanted_by=None))
            session.commit()
        if taken_over:
            self.metrics.lease_taken_over()
            self.takeovers += 1
        return Fence(self, subject, role, epoch)

    def renew(self) -> Renewal:
        """Extend every lease this worker still holds; returns them with their epochs, and which of them another
        worker asked for (one statement: an idle worker's renewal is most of what it asks of the database)."""
        with self.db.write_session() as session:
            rows = session.execute(update(_L).where(_L.c.holder == self.holder)
                                   .values(expires_at=self.clock.now() + self.ttl)
                                   .returning(_L.c.subject, _L.c.role, _L.c.epoch, _L.c.wanted_by)).all()
            session.commit()
        return Renewal({(r.subject, r.role): r.epoch for r in rows},
                       {(r.subject, r.role) for r in rows if r.wanted_by is not None and r.wanted_by != self.holder})

    def release(self, fence: Fence) -> None:
        with self.db.write_session() as session:
            session.execute(update(_L).where(self._key(fence.subject, fence.role), _L.c.holder == self.holder,
                                             _L.c.epoch == fence.epoch)
                            .values(holder=None, expires_at=self.clock.now(), wanted_by=None))
            session.commit()

    def release_everyone(self) -> None:
        """Free every lease: for a database one process uses alone (SQLite), at that process's start."""
        with self.db.write_session() as session:
            session.execute(update(_L).where(_L.c.holder.is_not(None)).values(holder=None, wanted_by=None))
            session.commit()

    def release_all(self) -> None:
        """On the way out: whoever comes next need not wait for the leases to expire."""
        with self.db.write_session() as session:
            session.execute(update(_L).where(_L.c.holder == self.holder)
                            .values(holder=None, expires_at=self.clock.now(), wanted_by=None))
            session.commit()

    def want(self, subject: str, role: str) -> None:
        """Ask the holder to hand the lease over (a consumer's channel reached this worker, not the holder)."""
        with self.db.write_session() as session:
            session.execute(update(_L).where(self._key(subject, role), _L.c.holder.is_not(None),
                                             _L.c.holder != self.holder).values(wanted_by=self.holder))
            session.commit()

    def wanted(self) -> list[tuple[str, str]]:
        """Leases of ours that another worker asked for."""
        with self.db.session() as session:
            rows = session.execute(select(_L.c.subject, _L.c.role).where(
                _L.c.holder == self.holder, _L.c.wanted_by.is_not(None), _L.c.wanted_by != self.holder)).all()
        return [(r.subject, r.role) for r in rows]

    def survey(self, subjects: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], datetime | None]:
        """Of ``subjects``: which nobody holds now (free or expired), and when the earliest of the others'
        leases expires (when to look again)."""
        wanted = set(subjects)
        if not wanted:
            return [], None
        now = self.clock.now()
        roles = {role for _, role in wanted}
        with self.db.session() as session:
            rows = {(r.subject, r.role): r for r in session.execute(
                select(_L.c.subject, _L.c.role, _L.c.holder, _L.c.expires_at).where(_L.c.role.in_(roles))).all()}
        free, earliest = [], None
        for key in sorted(wanted):
            row = rows.get(key)
            if row is None or row.holder is None or aware(row.expires_at) <= now:
                free.append(key)
            elif row.holder != self.holder:
                expiry = aware(row.expires_at)
                earliest = expiry if earliest is None else min(earliest, expiry)
        return free, earliest


LEASES = "aadsys_leases"  # notice channel: a lease was asked for or let go (payload: "<role>|<subject>")


@dataclass
class _Role:
    wanted: set[str]
    taken: Callable[[str, Fence], Awaitable[None]]
    lost: Callable[[str], Awaitable[None]]


class LeaseKeeper:
    """This worker's leases over time (an async loop): renews what it holds every third of the time to live, takes
    what it would run when nobody holds it (waking when the earliest of the others' leases expires), hands a lease
    over when another worker asks for it, and tells each plane what it gained and lost.

    Idle, a worker asks the database about once per third of the lease time (renewal) and once per lease time
    (the others' expiry); notices (``LISTEN``/``NOTIFY``) wake it at once when a lease is asked for or let go.
    """

    def __init__(self, leases: Leases, clock: Clock, notifications: Notifications | None = None) -> None:
        self.leases, self.clock, self.notifications = leases, clock, notifications
        self.held: dict[tuple[str, str], Fence] = {}
        self.roles: dict[str, _Role] = {}
        self.wake = asyncio.Event()
        self.renewed_at: float | None = None  # monotonic time of the last renewal that reached the database
        self._asked: set[tuple[str, str]] = set()  # asked of us, as the last renewal or look found
        self._look = True  # look again at what was asked of us before the next renewal (a notice came)
        if notifications is not None:
            notifications.listen(LEASES, self._noticed)

    def _noticed(self, payload: str) -> None:
        self._look = True
        self.wake.set()

    @property
    def renew_every(self) -> float:
        return self.leases.ttl.total_seconds() / 3

    def serve(self, role: str, *, taken: Callable[[str, Fence], Awaitable[None]],
              lost: Callable[[str], Awaitable[None]]) -> None:
        """``role``'s plane runs what this worker takes (``taken``), and stops what it loses or hands over."""
        self.roles[role] = _Role(set(), taken, lost)

    def want(self, role: str, subjects: Iterable[str]) -> None:
        """What this worker would run of ``role``; it takes those nobody holds, and lets go of the rest."""
        self.roles[role].wanted = set(subjects)
        self.wake.set()

    def fence(self, subject: str, role: str) -> Fence | None:
        return self.held.get((subject, role))

    def keeping(self) -> bool:
        """Readiness: the last renewal reached the database lately (an idle worker renews too)."""
        return self.renewed_at is not None and \
            self.clock.monotonic() - self.renewed_at < 2 * self.renew_every + 1

    async def acquire(self, subject: str, role: str, wait: float) -> Fence | None:
        """The lease now, for work that cannot wait for the next round (a consumer's channel reached this worker):
        taken if free, else asked of its holder, who hands it over; None if it does not come within ``wait``."""
        if role in self.roles:  # wanted from now on, so that the next round does not let it go again
            self.roles[role].wanted.add(subject)
        if (fence := self.held.get((subject, role))) is not None:
            return fence
        deadline = self.clock.monotonic() + wait
        asked = False
        while True:
            fence = await anyio.to_thread.run_sync(self.leases.take, subject, role)
            if fence is not None:
                self.held[(subject, role)] = fence
                return fence
            if self.clock.monotonic() >= deadline:
                return None
            if not asked:
                await anyio.to_thread.run_sync(self._ask, subject, role)
                asked = True
            await self.clock.sleep(min(0.1, max(0.0, deadline - self.clock.monotonic())))

    def _ask(self, subject: str, role: str) -> None:
        self.leases.want(subject, role)
        self._announce(f"{role}|{subject}")

    def _announce(self, payload: str) -> None:
        if self.notifications is not None and self.leases.db.is_postgres:
            with self.leases.db.write_session() as session:
                self.notifications.announce(session, LEASES, payload)
                session.commit()

    async def release(self, subject: str, role: str) -> None:
        fence = self.held.pop((subject, role), None)
        if fence is not None:
            await anyio.to_thread.run_sync(self.leases.release, fence)
            await anyio.to_thread.run_sync(self._announce, f"{role}|{subject}")

    async def release_all(self) -> None:
        self.held.clear()
        await anyio.to_thread.run_sync(self.leases.release_all)

    async def run(self) -> None:
        next_renewal = 0.0
        while True:
            self.wake.clear()
            now = self.clock.monotonic()
            if now >= next_renewal:
                await self._renew()
                next_renewal = self.clock.monotonic() + self.renew_every
            await self._hand_over()
            earliest = await self._take_free()
            pause = next_renewal - self.clock.monotonic()
            if earliest is not None:
                pause = min(pause, max(0.05, (earliest - self.clock.now()).total_seconds() + 0.05))
            await self.clock.wait(self.wake, max(0.0, pause))

    async def _renew(self) -> None:
        try:
            still = await anyio.to_thread.run_sync(self._renew_again_if_dropped)
        except Exception as exc:  # the database is away: what we hold runs out; the fence stops any late write
            log.warning("could not renew this worker's leases: %s", exc)
            since = self.renewed_at
            if since is not None and self.clock.monotonic() - since > self.leases.ttl.total_seconds():
                for key in list(self.held):  # run out by now: others may run them; stop ours until we are back
                    await self._lose(key)
            return
        self.renewed_at = self.clock.monotonic()
        self._asked, self._look = still.asked, False
        for key, fence in list(self.held.items()):
            if still.held.get(key) != fence.epoch:  # its renewal, a write, refused: another worker holds it now
                self.leases.fenced()
                await self._lose(key)

    def _renew_again_if_dropped(self) -> Renewal:
        """A connection the database dropped (a restart; a transaction it ended while this worker was paused) fails
        one renewal and invalidates the pool: the next one, at once on a fresh connection, tells whether the leases
        are still ours; giving them up for a dropped connection would leave a zombie's refusal uncounted."""
        try:
            return self.leases.renew()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            log.info("the database dropped a connection while renewing this worker's leases; renewing again")
            return self.leases.renew()

    async def _lose(self, key: tuple[str, str]) -> None:
        self.held.pop(key, None)
        subject, role = key
        log.warning("lost the %s lease of %s to another worker", role, subject)
        if role in self.roles:
            await self.roles[role].lost(subject)

    async def _hand_over(self) -> None:
        """Let go of what other workers asked for, and of what no plane here wants any more. What was asked is
        known from the last renewal; a worker that asks announces it (``NOTIFY``), and only then does this one look
        again before its next renewal. Without notices (SQLite, or while the listener reconnects) it looks every
        time."""
        if self.held and (self._look or not listening(self.notifications)):
            self._asked = set(await anyio.to_thread.run_sync(self.leases.wanted))
            self._look = False
        for key in list(self.held):
            subject, role = key
            plane = self.roles.get(role)
            if key in self._asked or (plane is not None and subject not in plane.wanted):
                self._asked.discard(key)  # taken again later, it is ours until someone asks again
                if plane is not None:
                    await plane.lost(subject)
                await self.release(subject, role)

    async def _take_free(self) -> datetime | None:
        wanted = {(subject, role) for role, plane in self.roles.items() for subject in plane.wanted}
        missing = wanted - set(self.held)
        if not missing:
            return None
        free, earliest = await anyio.to_thread.run_sync(self.leases.survey, missing)
        for subject, role in free:
            fence = await anyio.to_thread.run_sync(self.leases.take, subject, role)
            if fence is not None:
                self.held[(subject, role)] = fence
                await self.roles[role].taken(subject, fence)
        return earliest

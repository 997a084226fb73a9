"""No partner can stall a provider (connector/README.md, "Hostile partners").

The attacker is a third organisation with a valid, approved real-time grant for PEC's Sales Orders: a raw
Socket.IO client (``tests/e2e/flooder.py``, a process of its own) that does the real handshake and then writes
``subscribe``, ``history``, ``resend``, malformed and null payloads at 20,000 events a second, coming back whenever
PEC closes its channel or refuses a handshake. What it offers is what it wrote while it had a channel; PEC reads a
few hundred of those per channel, drops the connection unread, and refuses the subscription's channel
(``slow-down``) until its budget would have filled again, so for most of a flood spell the flooder is hammering
the handshake. Meanwhile the test measures what PEC's other users see: PEC's ``/healthz`` (sequential GETs),
OMIS's delivery latency (an order posted at PEC until OMIS's own event stream reports it stored, as ``aadsys bench
connectivity`` measures it), and PEC's resident memory (VmRSS).

Quiet and flood spells alternate (``SPELLS`` of each, quiet first) and each condition's latencies are pooled over
its spells: on a shared two-core machine the other tenants' load drifts by the second, and alternating spreads
that drift over both conditions instead of charging it to whichever ran second. OMIS's ``/healthz`` is measured
beside PEC's as a bystander: what the machine alone does to a latency meanwhile.

Each flood p99 may be at most ``max(2 × quiet p99, quiet p99 + FLOOR_MS)``. The absolute floor is there because a
quiet p99 of a few milliseconds on loopback would make the ratio a measure of the scheduler: two shared cores carry
PEC, OMIS, the portal, the flooder and the measuring threads, and one time slice of another busy process (a few ms
under CFS) is already 2× a 3 ms baseline. 20 ms is well below what a stalled provider shows (before the fixes in
``connector/data/_socketio.py`` and ``_provider.py``: OMIS's delivery p99 2.4× and PEC's /healthz p99 up to 3×
their quiet values), and above one scheduling hiccup.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from aadsys.benchmark._figures import summary
from aadsys.benchmark._observing import Arrivals, ResourceSampler, cpu_seconds
from aadsys.config import load_settings
from aadsys.samples import sales_order
from tests.e2e.exchange import Exchange, Outsider, assert_exactly_once_in_order, refused
from tests.e2e.harness import PreparedAadsys, proc_status_bytes, wait_for

pytestmark = pytest.mark.timeout(240)  # some 40 s alone; a loaded machine starts processes slowly

ROOT = Path(__file__).resolve().parents[2]
SPELLS = 3  # of quiet, and of flood, alternating
HEALTH_CHECKS = 70  # per spell and member: some 200 in all
HEALTH_PAUSE = 0.015  # between two GETs: the checks spread over the spell, as the orders do
ORDERS = 34  # per spell: some 100 in all, so that p99 is not simply the slowest one (nearest rank: up to 100 it is)
ORDER_PAUSE = 0.01
ARRIVAL_TIMEOUT = 15.0
FLOOD_SECONDS_MAX = 20.0  # the flooder's own bound over all its spells (some 2.5 s each)
RAMP_SECONDS = 0.5  # of flooding before a flood spell's measuring
CALM_SECONDS = 1.0  # after a flood spell: the next quiet one measures a provider at rest, not one working off the flood
SETTLE_SECONDS = 5.0  # after the last flood spell, before memory is read again
FLOOR_MS = 20.0
MAX_REFUSAL_ROWS = 50
MIN_EVENTS = 10_000  # the flooder wrote at least this many: a flood, whatever the machine let it reach
REFUSED_ACTION = "connector.refused"


@dataclass
class Latencies:
    health_ms: list[float] = field(default_factory=list)
    bystander_ms: list[float] = field(default_factory=list)  # OMIS's /healthz: what the machine alone does
    delivery_ms: list[float] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # PEC's

    def absorb(self, other: Latencies) -> None:
        self.health_ms += other.health_ms
        self.bystander_ms += other.bystander_ms
        self.delivery_ms += other.delivery_ms
        self.order_ids += other.order_ids
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds

    def line(self, label: str) -> str:
        h, d, b = summary(self.health_ms), summary(self.delivery_ms), summary(self.bystander_ms)
        slowest = ", ".join(f"{v:.0f}" for v in sorted(self.delivery_ms)[-3:])
        return (f"{label}: PEC /healthz p50 {h['p50']} ms p99 {h['p99']} ms ({len(self.health_ms)}); "
                f"delivery p50 {d['p50']} ms p99 {d['p99']} ms ({len(self.delivery_ms)}, slowest {slowest}); "
                f"OMIS /healthz p50 {b['p50']} ms p99 {b['p99']} ms; "
                f"PEC CPU {self.cpu_seconds:.2f} s in {self.seconds:.1f} s")


def test_a_flooding_partner_stalls_neither_the_provider_nor_another_consumer(exchange: Exchange,
                                                                            tmp_path: Path) -> None:
    orders = exchange.subscribe()
    mallory = exchange.outsider("mallory")
    wait_for(lambda: exchange.channel_open(orders), "OMIS's channel to open", timeout=30)
    pec, omis = exchange.pec, exchange.omis
    arrivals = Arrivals(omis, "sales-order", "pec")
    arrivals.start()
    assert arrivals.listening.wait(10) and arrivals.error is None, arrivals.error
    warm, quiet, during = Latencies(), Latencies(), Latencies()
    spells: list[tuple[Latencies, Latencies]] = []  # (quiet, flood) measured back to back
    try:
        measure(pec, omis, arrivals, warm, "WARM", orders=5, checks=20)  # first calls pay for imports and caches
        rss_before = proc_status_bytes(pec.running_pid, "VmRSS")
        sampler = ResourceSampler({"pec": pec.running_pid}, interval=0.1)
        sampler.start()
        try:
            with flooding(pec.url, mallory, tmp_path / "flooder.log") as flood:
                for spell in range(SPELLS):
                    calm_spell, busy_spell = Latencies(), Latencies()
                    measure(pec, omis, arrivals, calm_spell, f"QUIET{spell}")
                    flood.go()
                    time.sleep(RAMP_SECONDS)
                    measure(pec, omis, arrivals, busy_spell, f"FLOOD{spell}")
                    flood.pause()
                    time.sleep(CALM_SECONDS)
                    spells.append((calm_spell, busy_spell))
                    for pooled, part in ((quiet, calm_spell), (during, busy_spell)):
                        pooled.absorb(part)
        finally:
            peak_mb = sampler.stop()["pec"]["peak_mb"]
        time.sleep(SETTLE_SECONDS)
        rss_after = proc_status_bytes(pec.running_pid, "VmRSS")
    finally:
        arrivals.close()
    counts, rows = refused(exchange, "pec"), refusal_rows(pec)
    figures = flood.figures
    report = "\n".join([
        quiet.line("quiet"), during.line("flood"),
        f"flooder: {figures['emitted']} events in {figures['seconds']} s of flooding = {figures['perSecond']}/s "
        f"offered ({figures['perConnectedSecond']}/s while a channel was open, {figures['connectedSeconds']} s); "
        f"{figures['connects']} channels admitted, {figures['closedByProvider']} closed by PEC; answers "
        f"{figures['answers']}; closing {figures['closing']}; handshakes refused {figures['handshakesRefused']}",
        f"PEC refusals counted {counts}; {rows} audit rows '{REFUSED_ACTION}'",
        f"PEC RSS before {rss_before / 2**20:.1f} MB, peak {peak_mb:.1f} MB, "
        f"{SETTLE_SECONDS:g} s after {rss_after / 2**20:.1f} MB",
    ])
    print("\n" + report)

    # The pooled p99 is one or two orders: under `make test` another worker's burst on the same two cores can put
    # one there. A stall (the bug this guards) slows every spell; so the bound holds pooled, or else in most spells,
    # each a quiet and a flood period measured back to back.
    for label, field_name in (("/healthz", "health_ms"), ("delivery", "delivery_ms")):
        def within(calm: Latencies, busy: Latencies, name: str = field_name) -> bool:
            calm_p99, busy_p99 = p99(getattr(calm, name)), p99(getattr(busy, name))
            return busy_p99 <= max(2 * calm_p99, calm_p99 + FLOOR_MS)

        spells_within = sum(within(calm, busy) for calm, busy in spells)
        assert within(quiet, during) or spells_within > len(spells) / 2, \
            f"{label}: p99 over 2x its quiet value pooled and in {len(spells) - spells_within} of {len(spells)} " \
            f"spells\n{report}"
    assert rss_after <= 1.2 * rss_before, report
    assert figures["emitted"] >= MIN_EVENTS, report
    assert figures["answers"].get("flooded", 0) + figures["closing"].get("flooded", 0) >= 1, report  # told why
    assert figures["closedByProvider"] >= 1, report
    assert 1 <= counts.get("flooded", 0) <= figures["connects"], report  # once per channel at most
    assert counts.get("malformed", 0) >= 1, report
    assert rows <= MAX_REFUSAL_ROWS, report
    assert_exactly_once_in_order(exchange, [*warm.order_ids, *quiet.order_ids, *during.order_ids], timeout=60)


def measure(pec: PreparedAadsys, omis: PreparedAadsys, arrivals: Arrivals, into: Latencies, tag: str, *,
            orders: int = ORDERS, checks: int = HEALTH_CHECKS) -> None:
    """One spell, its figures added to ``into``: sequential GETs of PEC's and of OMIS's /healthz, and orders posted
    one at a time at PEC, each timed until OMIS's event stream reports it stored; each from a thread of its own."""
    order_ids = [f"{tag}-{n:03d}" for n in range(orders)]
    into.order_ids += order_ids

    def health(member: PreparedAadsys, times: list[float]) -> Callable[[], None]:
        def check() -> None:
            with member.http(timeout=10.0) as client:
                for _ in range(checks):
                    start = time.perf_counter()
                    client.get("/healthz").raise_for_status()
                    times.append((time.perf_counter() - start) * 1000)
                    time.sleep(HEALTH_PAUSE)
        return check

    def deliveries() -> None:
        with pec.api() as api:
            for order_id in order_ids:
                start = time.perf_counter()
                api.post("/api/v1/asset-types/sales-order/instances", json=sales_order(order_id)).raise_for_status()
                arrival = arrivals.next_for(order_id, ARRIVAL_TIMEOUT)
                assert arrival is not None, f"{order_id} did not reach OMIS within {ARRIVAL_TIMEOUT} s"
                into.delivery_ms.append((arrival[0] - start) * 1000)
                time.sleep(ORDER_PAUSE)

    started, cpu = time.monotonic(), cpu_seconds(pec.running_pid)
    run_together(health(pec, into.health_ms), health(omis, into.bystander_ms), deliveries)
    into.seconds += time.monotonic() - started
    into.cpu_seconds += cpu_seconds(pec.running_pid) - cpu


def run_together(*jobs: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # handed to the test below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]


class Flood:
    """The flooder process, told to ``go`` and to ``pause``; its figures once it has stopped."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.figures: dict[str, Any] = {}

    def tell(self, order: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(order + "\n")
        self.process.stdin.flush()

    def go(self) -> None:
        self.tell("go")

    def pause(self) -> None:
        self.tell("pause")


@contextmanager
def flooding(url: str, attacker: Outsider, log: Path) -> Iterator[Flood]:
    """The flooder, admitted once (paused); on exit it is told to stop, and its figures are kept. Its stderr goes
    to ``log`` (python-socketio's client complains there of what it could not take apart under load)."""
    key = attacker.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    orders = {"url": url, "grant": attacker.grant, "subscriptionId": attacker.subscription_id,
              "signingKey": b64url(key), "seconds": FLOOD_SECONDS_MAX}
    with log.open("w") as errors:
        process = subprocess.Popen([sys.executable, "-m", "tests.e2e.flooder"], cwd=ROOT, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
    flood = Flood(process)
    try:
        flood.tell(json.dumps(orders))
        assert process.stdout is not None
        first = process.stdout.readline()  # the flooder's connect waits 10 s at most
        assert first.strip() == "admitted", f"the flooder was not admitted: {first!r}\n{log.read_text()[-2000:]}"
        yield flood
        out, _ = process.communicate("stop\n", timeout=30)
        assert out.strip(), f"the flooder ended without its figures:\n{log.read_text()[-2000:]}"
        flood.figures = json.loads(out.strip().splitlines()[-1])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def p99(values: list[float]) -> float:
    return float(summary(values)["p99"] or 0.0)


def refusal_rows(aadsys: PreparedAadsys) -> int:
    """Audit rows of refusals in the AAdSys's own database."""
    engine = sqlalchemy.create_engine(load_settings(data_dir=aadsys.data_dir).resolved_database_url)
    try:
        with engine.connect() as db:
            return int(db.execute(sqlalchemy.text("SELECT count(*) FROM audit_log WHERE action = :a"),
                                  {"a": REFUSED_ACTION}).scalar_one())
    finally:
        engine.dispose()

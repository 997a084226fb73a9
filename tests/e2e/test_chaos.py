"""Chaos and zombies: PEC and OMIS of several workers each, behind nginx with TLS everywhere, while workers die and
hang; OMIS still stores every Sales Order once, in PEC's order (DESIGN §10: leases, fencing epochs).

Each company runs as several single-worker ``aadsys serve`` processes on one data dir and one PostgreSQL database
of its own, behind its nginx (``deploy/nginx/aadsys.conf``, TLS terminated there). Independent processes are the
workers here, as hosts sharing one ``database_url`` would be, rather than the children of ``aadsys serve --workers
N``: uvicorn's supervisor does start a dead child again, but it also kills a child that misses its pings for 5 s
(a SIGSTOPped one), and a test would have to find the children's pids. Each worker here is killed and started
again on its own port by the test, and its pid is the middle of its lease holder name (``host:pid:random``).

TLS everywhere: one test CA signs the portal's certificate (the portal serves TLS itself) and each nginx's; every
worker trusts it through ``tls_ca_file`` (``AADSYS_TLS_CA_FILE``): the portal over https, the partner's connector
over https and wss through the partner's nginx. The test's own clients verify against it too. The workers listen
in plain HTTP on loopback behind their proxy, as deploy/README.md describes.

``test_chaos`` posts CHAOS_ORDERS Sales Orders (default 1,000) to PEC through nginx from four clients, spread over
the run, while a killer SIGKILLs a worker of either side every 3-5 s and starts it again (CHAOS_KILLS kills,
default 10). The killer picks a side at random, then that side's holder of the subscription's lease half of the
time and any of its serving workers otherwise, so that many kills need a take-over; it never kills a side's last
serving worker. A take-over is timed from the kill until the leases table names another holder. The soak:

    CHAOS_ORDERS=3000 CHAOS_KILLS=20 .venv/bin/python -m pytest tests/e2e/test_chaos.py -k "not zombie" -s \\
        --basetemp=/tmp/chaos-soak -p no:cacheprovider

``test_zombie`` stops PEC's provider lease holder with SIGSTOP past its lease while orders keep coming, sees the
other worker take the lease at a higher epoch, resumes the stopped one (SIGCONT), and finds its late writes refused
by the fence and counted in its ``/connector/v1/status`` (``worker.fencedWrites``).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from aadsys.config import load_settings
from aadsys.processes import AadsysProcess, RunTls, http_client
from aadsys.samples import sales_order
from tests.e2e.exchange import CONNECTOR_ENV, Exchange, assert_exactly_once_in_order
from tests.e2e.harness import (
    HarnessError,
    Organisation,
    PreparedAadsys,
    PreparedPortal,
    received,
    running_portal,
    wait_for,
)
from tests.support.databases import AadsysTemplates
from tests.support.live_server import loopback_client
from tests.support.nginx import Certificate, RunningNginx, start_nginx
from tests.support.pki import Pki
from tests.support.postgres import PostgresServer, free_port

ORDERS = int(os.environ.get("CHAOS_ORDERS", "1000"))
KILLS = int(os.environ.get("CHAOS_KILLS", "10"))
KILL_EVERY = (3.0, 5.0)  # seconds between kills
LEASE_TTL = 3.0  # short, so that a take-over fits between two kills
WORKER_ENV = {**CONNECTOR_ENV, "AADSYS_CONNECTOR_LEASE_TTL_SECONDS": str(LEASE_TTL)}
PUBLISHES = {"pec": ["sales-order"], "omis": ["sales-order-status"]}
ROLE = {"pec": "provider", "omis": "consumer"}  # whose lease of a Sales Order subscription each side holds
POST_RETRY_SECONDS = 90.0
RETRIED_STATUSES = (500, 502, 503, 504)  # a worker killed or paused mid-request; the post is idempotent per key


# -- one company: workers on one data dir and database, nginx in front ----------------------------------------------

class FrontDoor(AadsysProcess):
    """A company as its e-shop and its partners reach it: nginx's https URL, verified against the test CA. Never
    started: only a client (the business API, ``instances``, ``status``)."""

    def __init__(self, data_dir: Path, org: str, url: str, ca_file: Path, key: str) -> None:
        super().__init__(data_dir, org=org, base_iri=f"https://{org}.example", name=f"{org} through nginx")
        self.front_url, self.ca_file, self.key = url, ca_file, key

    @property
    def url(self) -> str:
        return self.front_url

    def http(self, headers: Mapping[str, str] | None = None, **options: Any) -> httpx.Client:
        return http_client(self.front_url, headers, ca_file=self.ca_file, **options)


class Lease(NamedTuple):
    holder: str | None
    epoch: int
    expires_at: float  # seconds since the epoch (time.time()), as the holder last set it


@dataclass
class Company:
    name: str
    proxy: RunningNginx
    front: FrontDoor
    workers: list[AadsysProcess]
    database: Engine

    def lease(self, subject: str, role: str) -> Lease:
        """One lease, as the leases table holds it now."""
        with self.database.connect() as connection:
            row = connection.execute(text("SELECT holder, epoch, expires_at FROM leases WHERE subject = :s AND "
                                          "role = :r"), {"s": subject, "r": role}).first()
        if row is None:
            return Lease(None, 0, 0.0)
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
        return Lease(row.holder, int(row.epoch), expires.timestamp())

    def worker_holding(self, holder: str | None) -> AadsysProcess | None:
        pid = holder_pid(holder)
        return next((w for w in self.workers if w.running and w.pid == pid), None)

    def serving(self) -> list[AadsysProcess]:
        """The workers that answer ``/healthz`` now."""
        return [w for w in self.workers if w.running and _healthy(w)]

    def stop(self) -> None:
        """nginx at once (its fast shutdown: open websockets need not end first), then every worker side by side."""
        if self.proxy.process.poll() is None:
            self.proxy.process.terminate()
        self.proxy.stop()
        stopping = [threading.Thread(target=worker.stop) for worker in self.workers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        self.database.dispose()


def holder_pid(holder: str | None) -> int | None:
    """The pid in a lease holder name (``host:pid:random``, ``aadsys.core.notifications.worker_name``)."""
    return int(holder.split(":")[-2]) if holder else None


def _healthy(worker: AadsysProcess) -> bool:
    try:
        with loopback_client(base_url=worker.url, timeout=1.0) as client:
            return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _started_elsewhere(*_: object, **__: object) -> PreparedAadsys:
    raise HarnessError("the companies of these tests are started by start_companies, not by the exchange")


@dataclass
class Chain:
    exchange: Exchange
    companies: dict[str, Company]
    postgres: PostgresServer

    @property
    def pec(self) -> Company:
        return self.companies["pec"]

    @property
    def omis(self) -> Company:
        return self.companies["omis"]


def start_companies(root: Path, portal: PreparedPortal, pki: Pki, templates: AadsysTemplates,
                    postgres: PostgresServer, sizes: Mapping[str, int],
                    database_settings: Mapping[str, Mapping[str, str]] | None = None) -> Chain:
    """Register PEC and OMIS at ``portal``, start each one's nginx (certificate of the test CA) and then
    ``sizes[name]`` workers on one data dir and PostgreSQL database (with ``database_settings[name]`` set on it,
    e.g. ``idle_in_transaction_session_timeout``), all trusting the test CA; the exchange's members are the front
    doors. Everything started is stopped by ``Chain`` users through ``stop_chain``."""
    ca = pki.ca().cert_file
    exchange = Exchange(portal, _started_elsewhere, run=uuid.uuid4().hex[:6])
    companies: dict[str, Company] = {}
    try:
        for name, size in sizes.items():
            exchange.register(name)
            organisation: Organisation = exchange.organisation(name)
            ports = [free_port() for _ in range(size)]
            server = pki.server(f"{name}-proxy")
            proxy, _ = start_nginx(root / f"{name}-nginx", "aadsys.conf", "aadsys_pec",
                                   [f"127.0.0.1:{port}" for port in ports],
                                   certificate=Certificate(ca, server.cert_file, server.key_file))
            data_dir = root / name
            config = PreparedAadsys(data_dir, templates, org=name, base_iri=f"https://{name}.example")
            config.init(portal=portal, organisation=organisation, public_url=proxy.url, postgresql=True)
            key = config.create_key()
            url = load_settings(data_dir=data_dir).resolved_database_url
            for setting, value in (database_settings or {}).get(name, {}).items():
                postgres.psql(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET {setting} = \'{value}\'')
            env = {**WORKER_ENV, "AADSYS_CONNECTOR_PUBLISH": json.dumps(PUBLISHES[name]),
                   "AADSYS_TLS_CA_FILE": str(ca)}
            workers = []
            for i, port in enumerate(ports):
                worker = AadsysProcess(data_dir, org=name, base_iri=f"https://{name}.example", port=port, env=env,
                                       name=f"{name}-{i}")
                worker.log_path, worker.key = data_dir / f"serve-{i}.log", key
                workers.append(worker)
            companies[name] = Company(name, proxy, FrontDoor(data_dir, name, proxy.url, ca, key), workers,
                                      create_engine(url, pool_size=2, max_overflow=2))
            exchange.members[name] = companies[name].front
        for company in companies.values():  # all at once: a company's workers race to make its keys, as they may
            for worker in company.workers:
                worker.start(wait=False)
        for company in companies.values():
            for worker in company.workers:
                worker.wait_ready(timeout=120)
    except BaseException:
        for company in companies.values():
            company.stop()
        raise
    return Chain(exchange, companies, postgres)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The test CA: it signs the portal's certificate and each company's nginx's."""
    return Pki(tmp_path_factory.mktemp("chaos-pki"))


@pytest.fixture(scope="module")
def tls_portal(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[PreparedPortal]:
    """A portal of these tests, serving https with a certificate of the test CA."""
    server = pki.server("portal")
    with running_portal(tmp_path_factory.mktemp("chaos-portal") / "portal",
                        RunTls(server.cert_file, server.key_file, pki.ca().cert_file)) as portal:
        yield portal


@pytest.fixture
def chain_factory(tmp_path: Path, tls_portal: PreparedPortal, pki: Pki, aadsys_templates: AadsysTemplates,
                  postgres_server: PostgresServer) -> Iterator[Any]:
    started: list[Chain] = []

    def make(sizes: Mapping[str, int], database_settings: Mapping[str, Mapping[str, str]] | None = None) -> Chain:
        chain = start_companies(tmp_path / "chain", tls_portal, pki, aadsys_templates, postgres_server, sizes,
                                database_settings)
        started.append(chain)
        return chain

    yield make
    for chain in started:
        for company in chain.companies.values():
            company.stop()


def open_subscription(chain: Chain) -> str:
    """OMIS subscribes to PEC's Sales Orders in real time (PEC approves); returns once OMIS's channel is open."""
    subscription = chain.exchange.subscribe("sales-order")

    def connected() -> bool:
        return any(w.channel_open(subscription) for w in chain.omis.serving())

    wait_for(connected, "OMIS's channel to PEC (through PEC's nginx, over wss) to open", timeout=60, interval=0.2)
    return subscription


# -- load: orders through nginx ------------------------------------------------------------------------------------

class Posting(threading.Thread):
    """Posts orders through a company's nginx from ``clients`` threads, spread evenly over ``seconds`` (or as fast
    as they go). A dropped connection or a 5xx (a worker killed or paused mid-request) is retried with the same
    order, which the AAdSys takes idempotently; the retries are counted by cause."""

    def __init__(self, front: FrontDoor, order_ids: Sequence[str], *, clients: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.front, self.order_ids, self.clients, self.seconds = front, order_ids, clients, seconds
        self.retries: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        start = time.monotonic()
        gap = self.seconds / max(1, len(self.order_ids))
        threads = [threading.Thread(target=self._client, args=(c, start, gap), daemon=True)
                   for c in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _client(self, c: int, start: float, gap: float) -> None:
        try:
            with self.front.api() as api:
                for n in range(c, len(self.order_ids), self.clients):
                    pause = start + n * gap - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    self._post(api, self.order_ids[n])
        except BaseException as exc:  # handed to the test in finish()
            self.error = exc

    def _post(self, api: httpx.Client, order_id: str) -> None:
        body = sales_order(order_id)
        deadline = time.monotonic() + POST_RETRY_SECONDS
        while True:
            try:
                response = api.post("/api/v1/asset-types/sales-order/instances", json=body)
                if response.status_code in (200, 201):
                    return
                if response.status_code not in RETRIED_STATUSES or time.monotonic() > deadline:
                    raise HarnessError(f"{order_id}: {response.status_code} {response.text}")
                cause = f"http {response.status_code}"
            except httpx.TransportError as exc:
                if time.monotonic() > deadline:
                    raise
                cause = type(exc).__name__
            with self._lock:
                self.retries[cause] += 1
            time.sleep(0.2)

    def finish(self, timeout: float) -> None:
        self.join(timeout)
        if self.is_alive():
            raise HarnessError(f"posting did not finish within {timeout:.0f} s")
        if self.error is not None:
            raise self.error


# -- chaos: kills and take-overs ------------------------------------------------------------------------------------

@dataclass
class Kill:
    at: float  # seconds since the chaos began
    side: str
    worker: str
    pid: int
    held: tuple[str, int] | None  # the subscription's lease this worker held (holder, epoch), if it did
    expires_in: float  # seconds from the kill until that lease ran out (its holder renews it every TTL/3)
    taken_after: float | None = None  # seconds from the kill until another worker held that lease
    taken_by: str | None = None
    epoch: int | None = None


class LeaseWatch(threading.Thread):
    """Reads the subscription's lease at both sides every 50 ms; a kill of its holder is timed until another
    worker holds it."""

    def __init__(self, chain: Chain, subscription: str) -> None:
        super().__init__(daemon=True)
        self.chain, self.subscription = chain, subscription
        self.pending: list[tuple[Kill, float]] = []  # (kill, monotonic time of the kill)
        self.done = threading.Event()
        self._lock = threading.Lock()

    def watch(self, kill: Kill, killed_at: float) -> None:
        with self._lock:
            self.pending.append((kill, killed_at))

    def run(self) -> None:
        while not self.done.wait(0.05):
            with self._lock:
                waiting = list(self.pending)
            for kill, killed_at in waiting:
                assert kill.held is not None
                holder, epoch, _ = self.chain.companies[kill.side].lease(self.subscription, ROLE[kill.side])
                if holder is not None and holder != kill.held[0]:
                    kill.taken_after, kill.taken_by, kill.epoch = time.monotonic() - killed_at, holder, epoch
                    with self._lock:
                        self.pending.remove((kill, killed_at))


class Killer(threading.Thread):
    """Every 3-5 s, SIGKILL a worker of either side and start it again on its port (``count`` kills)."""

    def __init__(self, chain: Chain, subscription: str, watch: LeaseWatch, count: int, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.chain, self.subscription, self.watch, self.count, self.rng = chain, subscription, watch, count, rng
        self.kills: list[Kill] = []
        self.error: BaseException | None = None
        self.began = time.monotonic()

    def run(self) -> None:
        """Kills on a schedule (3-5 s apart from the previous one's due time), so that the time a kill takes does
        not stretch the run; a round that finds no side to kill from is tried again half a second later."""
        self.began = time.monotonic()
        try:
            due = self.began + self.rng.uniform(*KILL_EVERY)
            while len(self.kills) < self.count:
                time.sleep(max(0.0, due - time.monotonic()))
                if self._kill_one():
                    due += self.rng.uniform(*KILL_EVERY)
                else:
                    due = time.monotonic() + 0.5
        except BaseException as exc:
            self.error = exc

    def _kill_one(self) -> bool:
        sides = list(self.chain.companies)
        self.rng.shuffle(sides)
        for side in sides:
            company = self.chain.companies[side]
            serving = company.serving()
            if len(serving) < 2:  # never the last one: a side with no worker is an outage, not chaos
                continue
            holder, epoch, expires_at = company.lease(self.subscription, ROLE[side])
            holding = company.worker_holding(holder)
            victim = holding if holding in serving and self.rng.random() < 0.5 else self.rng.choice(serving)
            pid = victim.running_pid
            held = (holder, epoch) if holder is not None and holder_pid(holder) == pid else None
            killed_at, expires_in = time.monotonic(), expires_at - time.time()
            victim.kill()
            kill = Kill(killed_at - self.began, side, victim.name, pid, held, expires_in)
            self.kills.append(kill)
            if held is not None:
                self.watch.watch(kill, killed_at)
            victim.start(wait=False)  # on its port again; it serves once its imports and start-up are done
            return True
        return False  # no side has two serving workers right now (restarts still under way)

    def finish(self, timeout: float) -> None:
        self.join(timeout)
        if self.is_alive():
            raise HarnessError(f"the killer did not finish within {timeout:.0f} s")
        if self.error is not None:
            raise self.error


def storage_figures(chain: Chain, order_ids: Sequence[str]) -> dict[str, int]:
    """What OMIS stored of ``order_ids``: count, duplicates, and how often OMIS's storage order steps back in
    PEC's seq order."""
    wanted = set(order_ids)
    at_pec = sorted((i for i in chain.pec.front.instances("sales-order") if i["key"] in wanted),
                    key=lambda i: i["seq"])
    position = {item["key"]: n for n, item in enumerate(at_pec)}
    at_omis = sorted(received(chain.omis.front, "sales-order", "pec"), key=lambda i: i["seq"])
    keys = [item["key"] for item in at_omis]
    steps = [position.get(key, -1) for key in keys]
    return {"posted": len(order_ids), "at PEC": len(at_pec), "stored at OMIS": len(at_omis),
            "duplicates": len(keys) - len(set(keys)),
            "out of order": sum(1 for a, b in zip(steps, steps[1:], strict=False) if b < a)}


def _p50_max(values: Sequence[float]) -> str:
    return f"p50 {statistics.median(values):.2f} s, max {max(values):.2f} s" if values else "none"


@pytest.mark.timeout(240 + 12 * KILLS + ORDERS // 10)
def test_chaos_workers_killed_on_both_sides_every_few_seconds_and_omis_stores_every_order_once_in_order(
        chain_factory: Any) -> None:
    began = time.monotonic()
    chain: Chain = chain_factory({"pec": 3, "omis": 2})
    subscription = open_subscription(chain)
    set_up = time.monotonic() - began
    orders = [f"CH-{n:05d}" for n in range(ORDERS)]
    watch = LeaseWatch(chain, subscription)
    killer = Killer(chain, subscription, watch, KILLS, random.Random())
    posting = Posting(chain.pec.front, orders, clients=4, seconds=KILLS * 5.0)  # kills come ~5 s apart here

    watch.start()
    chaos_began = time.monotonic()
    posting.start()
    killer.start()
    killer.finish(timeout=KILLS * 30)
    posting.finish(timeout=300)
    wait_for(lambda: len(received(chain.omis.front, "sales-order", "pec")) >= ORDERS, f"{ORDERS} orders at OMIS",
             timeout=180, interval=0.5)
    drained = time.monotonic() - chaos_began
    for company in chain.companies.values():  # the last ones killed are back too
        for worker in company.workers:
            worker.wait_ready(timeout=120)
    figures = storage_figures(chain, orders)
    watch.done.set()
    watch.join()

    kills = killer.kills
    takeovers = [k.taken_after for k in kills if k.taken_after is not None]
    print(f"\nchaos: {ORDERS} orders, {KILLS} kills, lease TTL {LEASE_TTL:g} s; set-up {set_up:.1f} s; from the "
          f"first post to the last order stored at OMIS {drained:.1f} s (last kill at {kills[-1].at:.1f} s)")
    for n, kill in enumerate(kills, 1):
        if kill.held is None:
            what = "held no lease of the subscription"
        elif kill.taken_after is None:
            what = f"held the {ROLE[kill.side]} lease (epoch {kill.held[1]}); NOT taken over"
        else:
            what = (f"held the {ROLE[kill.side]} lease (epoch {kill.held[1]}, running out {kill.expires_in:.2f} s "
                    f"later); taken over in {kill.taken_after:.2f} s by pid {holder_pid(kill.taken_by)} (epoch "
                    f"{kill.epoch})")
        print(f"  kill {n:2d} at {kill.at:5.1f} s: {kill.worker} (pid {kill.pid}) {what}")
    print(f"chaos: kills {len(kills)} (PEC {sum(k.side == 'pec' for k in kills)}, OMIS "
          f"{sum(k.side == 'omis' for k in kills)}); take-overs {len(takeovers)}: {_p50_max(takeovers)}, "
          f"{sum(t > LEASE_TTL + 1 for t in takeovers)} beyond the lease TTL + 1 s")
    print(f"chaos: {', '.join(f'{k} {v}' for k, v in figures.items())}; posts retried: "
          f"{dict(posting.retries) or 'none'}")

    assert len(kills) >= KILLS
    assert all(k.taken_after is not None for k in kills if k.held is not None), "a killed holder's lease stayed"
    # A killed holder's lease runs out within one TTL, and the others wake for that moment: a take-over later than
    # a second TTL missed it. DESIGN §10 promises TTL + 1 s; the count beyond that is printed (a loaded host).
    assert max(takeovers, default=0) < 2 * LEASE_TTL, "a take-over missed the moment the lease ran out"
    assert (figures["duplicates"], figures["out of order"]) == (0, 0), figures
    assert_exactly_once_in_order(chain.exchange, orders)


@pytest.mark.timeout(300)
def test_zombie_a_worker_stopped_past_its_lease_writes_nothing_when_it_wakes_and_its_refusals_are_counted(
        chain_factory: Any) -> None:
    # A transaction the stopped worker left open would hold the lease row's share lock, and the take-over with
    # it, until the worker wakes: PostgreSQL ends it (deploy/README.md, "PostgreSQL settings that matter").
    chain: Chain = chain_factory({"pec": 2, "omis": 1},
                                 {"pec": {"idle_in_transaction_session_timeout": "2s"}})
    subscription = open_subscription(chain)
    orders = [f"ZB-{n:04d}" for n in range(300)]
    posting = Posting(chain.pec.front, orders, clients=2, seconds=20)
    posting.start()
    wait_for(lambda: len(received(chain.omis.front, "sales-order", "pec")) >= 40, "OMIS to be mid-stream",
             timeout=60, interval=0.2)
    holder, epoch, _ = chain.pec.lease(subscription, "provider")
    zombie = chain.pec.worker_holding(holder)
    assert zombie is not None, f"no running PEC worker holds the provider lease ({holder})"

    with zombie.paused():
        stopped = time.monotonic()
        successor, new_epoch = wait_for(
            lambda: (found := chain.pec.lease(subscription, "provider")).holder not in (None, holder) and found[:2],
            "the other PEC worker to take the provider lease over", timeout=LEASE_TTL + 30, interval=0.05)
        taken_after = time.monotonic() - stopped
        time.sleep(max(0.0, stopped + LEASE_TTL + 2 - time.monotonic()))  # well past its lease
        stopped_for = time.monotonic() - stopped
    fenced = wait_for(lambda: zombie.status()["worker"]["fencedWrites"], "the woken worker's fence to refuse a write",
                      timeout=30, interval=0.1)
    posting.finish(timeout=180)
    assert_exactly_once_in_order(chain.exchange, orders)
    figures = storage_figures(chain, orders)
    worker = zombie.status()["worker"]

    print(f"\nzombie: {zombie.name} (pid {zombie.pid}) held the provider lease at epoch {epoch}; stopped "
          f"{stopped_for:.1f} s (lease TTL {LEASE_TTL:g} s); pid {holder_pid(successor)} took it over at epoch "
          f"{new_epoch} {taken_after:.2f} s after the stop")
    print(f"zombie: after SIGCONT its status says fencedWrites {worker['fencedWrites']}, leaseTakeovers "
          f"{worker['leaseTakeovers']}; {', '.join(f'{k} {v}' for k, v in figures.items())}; posts retried: "
          f"{dict(posting.retries) or 'none'}")

    assert new_epoch > epoch
    assert fenced >= 1 and worker["name"] == holder
    said = zombie.log_path.read_text(errors="replace")  # a fenced write or the next renewal finds it first
    assert "another worker took the lease over" in said or "lease of" in said and "to another worker" in said, said
    assert (figures["duplicates"], figures["out of order"]) == (0, 0), figures

"""``make demo``: PEC and OMIS exchange records through their own AAdSys, with the ABM Portal as broker.

Three processes on loopback and embedded defaults (SQLite files under ./demo-data): the ABM Portal, PEC's
AAdSys and OMIS's AAdSys, each with its connector. Everything is done as operators, partners and ERPs do it:
through the command lines and the HTTP APIs. PEC publishes Sales Orders, OMIS publishes Sales Order Status;
each subscribes to the other's in real time; PEC's e-shop posts orders and OMIS's ERP sees them arrive,
verified, in its own business API and event stream; OMIS posts status updates and PEC sees them.

Interactive runs keep serving until Ctrl-C so the printed URLs can be opened; CI and other non-interactive
runs stop after the walk-through.
"""

from __future__ import annotations

import base64
import shutil
import socket
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from aadsys.demo_processes import QUICK, Member, Organisation, Portal, wait_for
from aadsys.samples import sales_order

console = Console(width=max(Console().width, 132))  # keep URLs and curl lines unwrapped in logs and CI
DEMO_DIR = Path("demo-data")
PASSWORD = "juice all the way down"  # demo only: printed so the reader can log in to the web UI


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _free(port: int) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} on 127.0.0.1 is taken; stop what uses it, or pass other ports")


def main(interactive: bool | None = None, port: int = 8080, omis_port: int = 8081, portal_port: int = 8700) -> None:
    if interactive is None:
        interactive = sys.stdin.isatty()
    for taken in (port, omis_port, portal_port):
        _free(taken)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    portal = Portal(DEMO_DIR / "portal", portal_port)
    pec = Member("pec", DEMO_DIR / "pec", port, org="pec", base_iri="https://pec.example",
                 env={**QUICK, "AADSYS_CONNECTOR_PUBLISH": '["sales-order"]'})
    omis = Member("omis", DEMO_DIR / "omis", omis_port, org="omis", base_iri="https://omis.example",
                  env={**QUICK, "AADSYS_CONNECTOR_PUBLISH": '["sales-order-status"]'})
    try:
        orgs = _meet(portal, pec, omis)
        _exchange(portal, pec, omis, orgs)
        _closing(portal, pec, omis, interactive)
        if interactive:
            console.print("Serving until Ctrl-C …")
            while all(p.process and p.process.poll() is None for p in (portal, pec, omis)):
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in (pec, omis, portal):
            process.stop()


def _meet(portal: Portal, pec: Member, omis: Member) -> dict[str, Organisation]:
    console.rule("[bold]1. The ABM Portal, and two companies that join it")
    portal.init()
    orgs = {"PEC": portal.register("PEC", "admin@pec.example", PASSWORD),
            "OMIS": portal.register("OMIS", "admin@omis.example", PASSWORD)}
    portal.start()
    console.print(f"   portal on {portal.url}; `abm-portal org create` registered PEC and OMIS, each with a connector "
                  f"client ({orgs['PEC'].client_id}, {orgs['OMIS'].client_id})")
    for member, name in ((pec, "PEC"), (omis, "OMIS")):
        member.init(portal, orgs[name])
        member.start()
        console.print(f"   {name}'s AAdSys on {member.url}: `aadsys init --portal-url …` and `aadsys serve`; its "
                      "connector made its Ed25519/X25519 keys, registered them and published its asset type")
    return orgs


def _exchange(portal: Portal, pec: Member, omis: Member, orgs: dict[str, Organisation]) -> None:
    console.rule("[bold]2. Subscriptions: each asks, the other's administrator approves")
    orders_asset = omis.find_asset("sales-order", "PEC")
    to_omis = omis.request(orders_asset["id"])
    portal.decide(to_omis, orgs["PEC"])
    status_asset = pec.find_asset("sales-order-status", "OMIS")
    to_pec = pec.request(status_asset["id"])
    portal.decide(to_pec, orgs["OMIS"])
    console.print(f"   OMIS → PEC's Sales Orders, real time ({to_omis[:8]}…): approved by PEC's admin")
    console.print(f"   PEC → OMIS's Sales Order Status, real time ({to_pec[:8]}…): approved by OMIS's admin")

    console.rule("[bold]3. PEC's e-shop posts Sales Orders; OMIS's ERP sees them arrive")
    table = Table("orderId", "size", "HTTP at PEC", "stored at OMIS after", "sha256 (same on both sides)")
    orders = [sales_order(f"SO-{1001 + n}", target_bytes=size) for n, size in enumerate([1500, 2000, 100_000])]
    with pec.api() as api, omis.api() as erp:
        for record in orders:
            started = time.perf_counter()
            posted = api.post("/api/v1/asset-types/sales-order/instances", json=record).raise_for_status().json()
            arrived = wait_for(partial(_arrived, erp, "sales-order", "pec", record["orderId"]),
                               f"{record['orderId']} at OMIS", 60, 0.005)
            table.add_row(record["orderId"], f"{len(str(record)) / 1000:.1f} kB", "201",
                          f"{(time.perf_counter() - started) * 1000:.0f} ms",
                          f"{arrived['sha256'][:16]}… {'✓' if arrived['sha256'] == posted['sha256'] else '✗'}")
        repeat = api.post("/api/v1/asset-types/sales-order/instances", json=orders[0])
        table.add_row(orders[0]["orderId"] + " again", "", str(repeat.status_code), "not sent twice", "idempotent")
    console.print(table)
    received = omis.received("sales-order", "pec")
    console.print(f"   OMIS's business API, GET /api/v1/asset-types/sales-order/instances?provider=pec: "
                  f"{len(received)} orders, keys {', '.join(i['key'] for i in received)}, kept under PEC's ids "
                  f"(https://pec.example/ids/aas/sales-order/…)")

    console.rule("[bold]4. OMIS's line reports progress; PEC sees each Sales Order Status revision")
    with omis.api() as api:
        for station, status in (("loading", "scheduled"), ("filling", "in_production"), ("packaging", "completed")):
            api.post("/api/v1/asset-types/sales-order-status/instances", json={
                "orderId": "SO-1001", "status": status, "currentStation": station, "rfidTag": "E200-3412-0001",
                "trace": [], "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).raise_for_status()
    def three_revisions() -> list[dict[str, Any]] | None:
        statuses = pec.received("sales-order-status", "omis")
        return statuses if len(statuses) == 3 else None

    revisions = wait_for(three_revisions, "three status revisions at PEC")
    for revision in revisions:
        console.print(f"   PEC received revision {revision['revision']}: {revision['data']['status']} at "
                      f"{revision['data']['currentStation']}")


def _arrived(api: httpx.Client, asset_type: str, provider: str, key: str) -> dict[str, Any] | None:
    found = api.get(f"/api/v1/asset-types/{asset_type}/instances/{key}", params={"provider": provider})
    return {"sha256": found.headers["etag"].strip('"')} if found.status_code == 200 else None


def _closing(portal: Portal, pec: Member, omis: Member, interactive: bool) -> None:
    console.rule("[bold]5. What each connector says (`aadsys connector status`)")
    for member in (pec, omis):
        console.print(member.connector("status"))
    shell_id = _b64("https://pec.example/ids/aas/sales-order/SO-1001")
    console.print(Panel.fit(
        f"Open next:\n"
        f"  {pec.url}/docs, {omis.url}/docs      OpenAPI of each AAdSys (business, AAS and connector APIs)\n"
        f"  {portal.url}/                           ABM Portal web UI; log in as admin@pec.example or\n"
        f"                                                  admin@omis.example, password '{PASSWORD}'\n\n"
        f"Try:\n"
        f"  curl -H 'X-API-Key: {omis.key}' \\\n"
        f"       '{omis.url}/api/v1/asset-types/sales-order/instances/SO-1001?provider=pec'\n"
        f"  curl -H 'X-API-Key: {omis.key}' \\\n"
        f"       '{omis.url}/api/v3.0/shells/{shell_id}'\n"
        f"  curl -N -H 'X-API-Key: {pec.key}' {pec.url}/api/v1/events\n"
        f"  .venv/bin/aadsys connector status --data-dir {pec.data_dir}",
        title="PEC ↔ ABM Portal ↔ OMIS are running" if interactive else "demo complete"))


if __name__ == "__main__":
    main()

"""``make demo``: PEC's AAdSys on embedded defaults, fed with Sales Orders and read back through both APIs;
then the ABM Portal, where PEC publishes the Sales Order type and OMIS subscribes (``demo_portal``).

Runs on SQLite in ./demo-data and loopback only. Interactive runs keep serving until Ctrl-C so the
printed URLs can be opened; CI and other non-interactive runs stop after the walk-through.
"""

from __future__ import annotations

import base64
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from aadsys import demo_portal
from aadsys.cli import prepare
from aadsys.config import Settings
from aadsys.core import api_keys
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from aadsys.samples import sales_order
from aas_models import Owner

console = Console(width=max(Console().width, 132))  # keep URLs and curl lines unwrapped in logs and CI
DEMO_DIR = Path("demo-data")


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _serve(app: Any, port: int):  # type: ignore[no-untyped-def]
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit(f"the gateway did not start on 127.0.0.1:{port}; is the port taken?")
        time.sleep(0.05)
    return server, thread


def main(interactive: bool | None = None, port: int = 8080, portal_port: int = 8700) -> None:
    if interactive is None:
        interactive = sys.stdin.isatty()
    shutil.rmtree(DEMO_DIR / "pec", ignore_errors=True)
    settings = Settings(data_dir=DEMO_DIR / "pec", org="pec", base_iri="https://pec.example", port=port)
    console.rule("[bold]AAdSys demo: PEC's Asset Administration System")
    console.print(f"1. init  data dir {settings.data_dir}, SQLite {settings.resolved_database_url}")
    prepare(settings)
    ctx = AadsysContext.build(settings)
    key = api_keys.create_key(ctx.db, "demo-eshop", ["write"])
    console.print("2. made API key 'demo-eshop' (scope write)")
    server, thread = _serve(create_app(settings, context=ctx), port)
    base = f"http://127.0.0.1:{port}"
    console.print(f"3. gateway listening on {base}")

    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as api:
        table = Table("orderId", "size", "HTTP", "revision", "sha256")
        orders = [sales_order(f"SO-{1001 + n}", target_bytes=size) for n, size in enumerate([1500, 2000, 100_000])]
        for record in orders:
            r = api.post("/api/v1/asset-types/sales-order/instances", json=record)
            r.raise_for_status()
            table.add_row(record["orderId"], f"{len(r.request.content) / 1000:.1f} kB", str(r.status_code),
                          str(r.json()["revision"]), r.json()["sha256"][:16] + "…")
        repeat = api.post("/api/v1/asset-types/sales-order/instances", json=orders[0])
        table.add_row(orders[0]["orderId"] + " again", "", str(repeat.status_code), "idempotent", "")
        console.print("4. the e-shop posts Sales Orders (business JSON):", table)

        business = api.get("/api/v1/asset-types/sales-order/instances/SO-1001").json()
        console.print(f"5. read back as business JSON: orderId={business['orderId']} total={business['total']} "
                      f"{business['currency']} items={len(business['items'])}")

        shells = api.get("/api/v3.0/shells", params={"limit": 10}).json()["result"]
        console.print("6. AAS Part 2 API /api/v3.0/shells lists:")
        for shell in shells:
            console.print(f"   {shell['assetInformation']['assetKind']:<8} {shell['id']}")
        shell_id = "https://pec.example/ids/aas/sales-order/SO-1001"
        shell = api.get(f"/api/v3.0/shells/{_b64(shell_id)}").json()
        sm_id = shell["submodels"][0]["keys"][0]["value"]
        value = api.get(f"/api/v3.0/submodels/{_b64(sm_id)}/$value").json()
        console.print(f"7. submodel {sm_id} as $value: orderId={value.get('orderId')}, "
                      f"{len(value.get('items', []))} item(s)")

    try:
        portal = demo_portal.run(console, DEMO_DIR, Owner(settings.org, settings.base_iri), portal_port)
    except BaseException:
        server.should_exit = True
        raise
    console.print(Panel.fit(
        f"Open next:\n"
        f"  {base}/docs                         OpenAPI of the business and AAS APIs\n"
        f"  {base}/api/v3.0/shells              AAS Repository (send X-API-Key)\n"
        f"  {base}/api/v3.0/description         the profiles served\n"
        f"  {portal.url}/                            ABM Portal web UI; log in as admin@pec.example\n"
        f"                                                   or admin@omis.example, password '{demo_portal.PASSWORD}'\n"
        f"  {portal.url}/docs                        ABM Portal REST API\n\n"
        f"Try:\n"
        f"  curl -H 'X-API-Key: {key}' \\\n       {base}/api/v1/asset-types/sales-order/instances/SO-1001\n"
        f"  curl -H 'X-API-Key: {key}' -H 'Accept: application/aas+json' \\\n"
        f"       {base}/api/v1/asset-types/sales-order/instances/SO-1001",
        title="AAdSys PEC is running" if interactive else "demo complete"))
    try:
        if interactive:
            console.print("Serving until Ctrl-C …")
            while thread.is_alive():
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        portal.stop()
        server.should_exit = True
        thread.join(timeout=10)
        ctx.db.dispose()


if __name__ == "__main__":
    main()

"""The scenario of ``make demo``: five processes, bootstrapped as operators do it, then customers' orders.

1. The portal, and PEC and OMIS joining it (``abm-portal org create``; ``aadsys init`` and ``serve``).
2. Each subscribes to what the other publishes; each one's administrator approves (portal REST API).
3. PEC's shop and OMIS's line start, each with an API key of its own company's AAdSys.
4. Customers order in the shop; the orders travel PEC → OMIS, the line makes them, status travels back.
5. A summary: every order completed at OMIS, its final status back at PEC, and the round trip.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from aadsys.processes import QUICK, AadsysProcess, Organisation, PortalProcess, ProcessError, RunTls, wait_for
from valuechain.members import Line, Shop
from valuechain.orders import SAMPLES, CustomerOrder

console = Console(width=max(Console().width, 132))  # keep URLs unwrapped in logs and CI
PASSWORD = "juice all the way down"  # demo only: printed so the reader can log in to the web UIs
ORDER_SECONDS = 180.0
FINAL = ("completed", "failed", "cancelled")


class DemoError(SystemExit):
    """A step of the demo failed; the message says which and shows the process's own words."""


@dataclass(frozen=True)
class Ports:
    portal: int = 8700
    pec: int = 8080
    omis: int = 8081
    shop: int = 8090
    line: int = 8091


@dataclass
class Chain:
    portal: PortalProcess
    pec: AadsysProcess
    omis: AadsysProcess
    shop: Shop
    line: Line

    @property
    def processes(self) -> tuple[PortalProcess | AadsysProcess | Shop | Line, ...]:
        return (self.portal, self.pec, self.omis, self.shop, self.line)

    def running(self) -> bool:
        return all(p.running for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):  # the systems first, the portal last
            process.stop()


def build(root: Path, ports: Ports, line_env: dict[str, str] | None = None, *, tls: bool = False,
          portal_driver: Callable[..., PortalProcess] = PortalProcess,
          member_driver: Callable[..., AadsysProcess] = AadsysProcess) -> Chain:
    """The five processes' drivers over a fresh ``root`` (a second run starts clean); with ``tls``, each serves
    https (and wss) with a certificate made by ``aadsys certs`` in ``root/tls``, and each trusts its CA. The
    drivers of the portal and of the two AAdSys may be subclasses that prepare them in-process (the tests')."""
    shutil.rmtree(root, ignore_errors=True)
    certificates = RunTls.make(root / "tls") if tls else None
    return Chain(
        portal=portal_driver(root / "portal", port=ports.portal, tls=certificates),
        pec=member_driver(root / "pec", org="pec", base_iri="https://pec.example", port=ports.pec,
                          env={**QUICK, "AADSYS_CONNECTOR_PUBLISH": '["sales-order"]'}, tls=certificates),
        omis=member_driver(root / "omis", org="omis", base_iri="https://omis.example", port=ports.omis,
                           env={**QUICK, "AADSYS_CONNECTOR_PUBLISH": '["sales-order-status"]'}, tls=certificates),
        shop=Shop(root / "shop", ports.shop, tls=certificates),
        line=Line(root / "line", PASSWORD, ports.line,
                  env={"OMIS_LINE_STATION_SECONDS": "0.3,0.9", "OMIS_LINE_SEED": "2026", **(line_env or {})},
                  tls=certificates),
    )


def bootstrap(chain: Chain) -> dict[str, Organisation]:
    """Steps 1-3: members joined, subscriptions approved both ways, shop and line serving."""
    console.rule("[bold]1. The ABM Portal, and two companies that join it")
    if chain.portal.tls:
        console.print(f"   TLS: `aadsys certs` made a development CA and {chain.portal.tls.cert_file.name} for "
                      f"127.0.0.1 in {chain.portal.tls.ca_file.parent}/; all five serve https (and wss), each "
                      "trusts the CA (tls_ca_file)")
    chain.portal.init()
    orgs = {"PEC": chain.portal.register("PEC", "admin@pec.example", PASSWORD),
            "OMIS": chain.portal.register("OMIS", "admin@omis.example", PASSWORD)}
    chain.portal.start()
    console.print(f"   portal on {chain.portal.url}; `abm-portal org create` registered PEC and OMIS, each with a "
                  "connector client")
    for member, name in ((chain.pec, "PEC"), (chain.omis, "OMIS")):
        member.init(portal=chain.portal, organisation=orgs[name])
        _keep(key_file(member), member.create_key("erp", "write"))
        member.start()
        console.print(f"   {name}'s AAdSys on {member.url}: its connector made its keys, registered them and "
                      "published its asset type")

    console.rule("[bold]2. Subscriptions: each asks, the other's administrator approves")
    to_omis = request(chain.omis, find_asset(chain.omis, "sales-order", "PEC")["id"])
    chain.portal.decide(to_omis, orgs["PEC"])
    to_pec = request(chain.pec, find_asset(chain.pec, "sales-order-status", "OMIS")["id"])
    chain.portal.decide(to_pec, orgs["OMIS"])
    console.print(f"   OMIS → PEC's Sales Orders, real time (subscription {to_omis}): approved by PEC's admin")
    console.print(f"   PEC → OMIS's Sales Order Status, real time (subscription {to_pec}): approved by OMIS's admin")

    console.rule("[bold]3. PEC's shop and OMIS's line, each talking only to its own AAdSys")
    chain.shop.init(chain.pec.url, _write_key(chain.pec, "e-shop"), partner="omis")
    chain.line.init(chain.omis.url, _write_key(chain.omis, "line"), partner="pec")
    chain.shop.start()
    chain.line.start()
    console.print(f"   shop on {chain.shop.url} (API key 'e-shop' of PEC's AAdSys); line on {chain.line.url} "
                  "(API key 'line' of OMIS's AAdSys)")
    return orgs


def key_file(member: AadsysProcess) -> Path:
    """Where the demo keeps the write key 'erp' of ``member``'s AAdSys for the reader's own calls (the README's
    examples read it from there): beside the member's data dir, e.g. ``demo-data/pec-api-key``."""
    return member.data_dir.parent / f"{member.data_dir.name}-api-key"


def _keep(path: Path, secret: str) -> None:
    """``secret`` in ``path``, readable by its owner only from the start."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(secret + "\n")


def _write_key(member: AadsysProcess, name: str) -> str:
    """A write key of ``member``'s AAdSys for one more of its company's systems: each system has its own."""
    return member.create_key(name, "write")


def find_asset(member: AadsysProcess, asset_type: str, publisher: str) -> dict[str, Any]:
    """The partner's published asset, as an operator finds it (``aadsys connector catalog``), once published."""
    def published() -> dict[str, Any] | None:
        return next((a for a in member.connector_json("catalog") if a["assetType"] == asset_type
                     and a["orgName"] == publisher), None)

    return wait_for(published, f"{publisher} to publish {asset_type}")


def request(member: AadsysProcess, asset_id: str) -> str:
    """A real-time subscription, as an operator asks for it (``aadsys connector request``); its id."""
    return member.cli_result("connector", "request", "--asset", asset_id, "--mode", "realtime")


@dataclass
class Outcome:
    sample: CustomerOrder
    page: str
    shop: dict[str, Any]
    line: dict[str, Any] | None

    @property
    def order_id(self) -> str:
        return str(self.shop["orderId"])

    def round_trip_seconds(self) -> float | None:
        """From the customer's checkout to the final status being back in the shop (the shop's own clock)."""
        final = [r for r in self.shop["revisions"] if r["status"] in FINAL]
        if not final:
            return None
        return (_time(final[-1]["receivedAt"]) - _time(self.shop["placedAt"])).total_seconds()

    def problems(self) -> list[str]:
        """What is missing or wrong for this order; empty when it went all the way and back."""
        found = []
        if self.shop["delivery"] != "sent":
            found.append(f"the shop's delivery to PEC's AAdSys is {self.shop['delivery']}")
        if self.line is None:
            found.append("OMIS's line never took the order")
        elif self.line["state"] != "completed":
            found.append(f"OMIS's line ended it {self.line['state']}")
        if self.shop["status"] != "completed":
            found.append(f"the final status back at PEC is {self.shop['status']}")
        return found + self.label_problems()

    def label_problems(self) -> list[str]:
        """The customer's label image must reach OMIS intact and be what its printer printed."""
        if self.line is None or self.sample.label_colour is None:
            return []
        sent = self.shop["item"]["labelImage"]["sha256"]
        return [problem for production in self.line["productionOrders"] for problem in _label(production, sent)]

    def label_column(self) -> str:
        if self.sample.label_colour is None:
            return "none"
        return "✗" if self.line is None or self.label_problems() else "sha256 ✓, printed"


def _label(production: dict[str, Any], sent: str) -> list[str]:
    found = []
    label = production["labelImage"]
    if label is None or label["sha256"] != sent or not label["verified"]:
        found.append(f"the label image at OMIS is not the one the customer uploaded ({label})")
    printed = {bottle["printedSha256"] for bottle in production["bottles"]}
    if printed != {sent}:
        found.append(f"the printer printed {printed}, not the customer's label {sent[:12]}…")
    return found


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def order_juices(chain: Chain, samples: tuple[CustomerOrder, ...] = SAMPLES) -> list[Outcome]:
    """Step 4: customers check out in the shop; wait until each order's final status is back in the shop."""
    console.rule("[bold]4. Customers order in PEC's shop; OMIS makes the juice; status comes back")
    pages = []
    for sample in samples:
        pages.append(chain.shop.place(sample.form(), sample.image()))
        console.print(f"   {sample.customer} ordered {sample.quantity} × {sample.bottle_size_ml} ml "
                      f"{sample.describe()} → {chain.shop.url}{pages[-1]}")
    outcomes = []
    for sample, page in zip(samples, pages, strict=True):
        shop = _final_status(chain, page, sample.customer)
        outcomes.append(Outcome(sample, page, shop, chain.line.order(shop["orderId"])))
    return outcomes


def _final_status(chain: Chain, page: str, customer: str) -> dict[str, Any]:
    """The shop's order once its final status is back (or the AAdSys refused it), printing each step on the way."""
    shown: set[tuple[str, str | None]] = set()

    def final() -> dict[str, Any] | None:
        order = chain.shop.order(page)
        if order["status"] and (order["status"], order["currentStation"]) not in shown:
            shown.add((order["status"], order["currentStation"]))
            console.print(f"   {order['orderId']}: {order['status']}"
                          + (f" at {order['currentStation']}" if order["currentStation"] else ""))
        return order if order["status"] in FINAL or order["delivery"] == "refused" else None

    return wait_for(final, f"the final status of {customer}'s order back at PEC's shop", timeout=ORDER_SECONDS,
                    interval=0.25)


def summary(outcomes: list[Outcome]) -> Table:
    table = Table(title="5. Every order, there and back")
    table.add_column("order", no_wrap=True)
    for column in ("customer", "juice", "label at OMIS", "OMIS line", "status at PEC", "revisions", "round trip"):
        table.add_column(column)
    for outcome in outcomes:
        rt = outcome.round_trip_seconds()
        table.add_row(outcome.order_id, outcome.sample.customer,
                      f"{outcome.sample.quantity} × {outcome.sample.bottle_size_ml} ml {outcome.sample.describe()}",
                      outcome.label_column(), outcome.line["state"] if outcome.line else "missing",
                      str(outcome.shop["status"]), str(len(outcome.shop["revisions"])),
                      f"{rt:.1f} s" if rt is not None else "—")
    return table


def closing(chain: Chain, outcomes: list[Outcome], interactive: bool) -> None:
    since = min((o.shop["placedAt"] for o in outcomes), default=None)
    oee = chain.line.oee(since)
    console.print(f"   the line since the first order: OEE {oee['oee']:.0%} (availability {oee['availability']:.0%}, "
                  f"performance {oee['performance']:.0%}, quality {oee['quality']:.0%}), "
                  f"{oee['bottlesGood']} good bottles")
    console.print(Panel.fit(
        f"  {chain.shop.url}/                    PEC's juice shop: order one, watch it being made\n"
        f"  {chain.line.url}/                    OMIS's line: user 'operator', password '{PASSWORD}'\n"
        f"  {chain.portal.url}/                    ABM Portal: admin@pec.example or admin@omis.example,\n"
        f"                                             password '{PASSWORD}'\n"
        f"  {chain.pec.url}/docs, {chain.omis.url}/docs   OpenAPI of each AAdSys, with the API key in\n"
        f"                                             {key_file(chain.pec)} or {key_file(chain.omis)}\n"
        f"  logs and data: {chain.portal.data_dir.parent}/"
        + (f"\n  TLS: let your browser trust {chain.portal.tls.ca_file} to open the pages without a warning"
           if chain.portal.tls else ""),
        title="shop ↔ PEC AAdSys ↔ ABM Portal ↔ OMIS AAdSys ↔ line are running" if interactive
        else "value chain demo complete"))
    console.print("Some of the README's examples, for this chain: run them in this folder while it runs "
                  "(README.md, 'The API by example', has more)")
    for line in examples(chain):
        console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)  # whole lines, to copy


def examples(chain: Chain) -> list[str]:
    """Lines of the README's examples ("The API by example") as commands for this chain: its URLs and data dirs.
    With the default ports and data dir they are the README's own lines, word for word (tests/test_demo.py checks
    it). Credentials come from files the demo wrote: the API key from :func:`key_file`, the connector's client id
    from its ``aadsys.toml`` and its secret from the copy ``aadsys init`` keeps beside it. On ``--tls``, curl and
    the connector's commands trust the run's CA."""
    pec, omis, portal = chain.pec, chain.omis, chain.portal
    aadsys = (f"AADSYS_TLS_CA_FILE={portal.tls.ca_file} " if portal.tls else "") + ".venv/bin/aadsys"
    curl = "curl -sS --fail-with-body" + (f" --cacert {portal.tls.ca_file}" if portal.tls else "")
    return [
        "# PEC's AAdSys, with the write key the demo made for you: the Sales Orders, then their shells",
        f"KEY=$(cat {key_file(pec)})",
        f"{curl} -H \"X-API-Key: $KEY\" '{pec.url}/api/v1/asset-types/sales-order/instances?limit=5' "
        "| jq '.items[] | {key, createdAt}'",
        f"{curl} -H \"X-API-Key: $KEY\" '{pec.url}/api/v3.0/shells?limit=5' | jq '.result[].id'",
        "# OMIS's connector: its subscriptions at the portal, its channels, its historical transfers",
        f"{aadsys} connector subscriptions --data-dir {omis.data_dir}",
        f"{aadsys} connector status --data-dir {omis.data_dir}",
        f"{aadsys} connector transfers --data-dir {omis.data_dir}",
        "# The portal's REST API as PEC's connector: its client id and secret, where `aadsys init` keeps them",
        f"CLIENT_ID=$(sed -n 's/^client_id = \"\\(.*\\)\"$/\\1/p' {pec.data_dir / 'aadsys.toml'})",
        f"TOKEN=$({curl} -u \"$CLIENT_ID:$(cat {pec.data_dir / 'client-secret'})\" -d grant_type=client_credentials "
        f"{portal.url}/oauth/token | jq -r .access_token)",
        f"{curl} -H \"Authorization: Bearer $TOKEN\" '{portal.url}/api/v1/assets?q=sales+order' "
        "| jq '.items[] | {name, orgName, assetType}'",
    ]


def goodbye(root: Path) -> str:
    """The last line after Ctrl-C or SIGTERM, once the five processes have stopped."""
    return (f"Stopped the portal, PEC's and OMIS's AAdSys, the shop and the line; their data and logs stay in "
            f"{root}/ (the next `make demo` starts afresh). Goodbye.")


def run(root: Path, ports: Ports, *, once: bool, line_env: dict[str, str] | None = None, tls: bool = False) -> int:
    """The whole scenario; 0 when every order went there and back. Without ``once``, serves until Ctrl-C."""
    chain = build(root, ports, line_env, tls=tls)
    try:
        bootstrap(chain)
        outcomes = order_juices(chain)
        console.print(summary(outcomes))
        problems = [f"{o.order_id}: {p}" for o in outcomes for p in o.problems()]
        for problem in problems:
            console.print(f"[red]✗ {problem}")
        closing(chain, outcomes, interactive=not once)
        if not once:
            console.print("Serving until Ctrl-C …")
            while chain.running():
                time.sleep(0.5)
            raise DemoError("a process of the chain stopped; see its log under " + str(root))
        return 1 if problems else 0
    except KeyboardInterrupt:
        console.print("\nStopping the chain …")
        chain.stop()
        console.print(goodbye(root), soft_wrap=True, highlight=False)
        return 0
    except ProcessError as exc:
        raise DemoError(str(exc)) from None
    finally:
        chain.stop()  # stopping twice is harmless: a stopped driver has no process left

"""The processes every ``aadsys bench`` command runs: a portal, PEC and OMIS on free loopback ports, driven
through their command lines and HTTP APIs (``aadsys.processes``), and the subscriptions between them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console

from aadsys.processes import QUICK, AadsysProcess, Organisation, PortalProcess, ProcessError, wait_for
from aas_models import Owner

PUBLISHES = {"PEC": "sales-order", "OMIS": "sales-order-status"}
BOTH_WAYS = (("PEC", "OMIS"), ("OMIS", "PEC"))  # (provider, consumer) of each real-time subscription


class BenchError(SystemExit):
    """The benchmark cannot go on; the message says why."""


@dataclass
class Side:
    """One company's AAdSys in the benchmark."""

    name: str
    member: AadsysProcess
    publishes: str
    owner: Owner


@dataclass
class Partners:
    """The portal, its two member organisations and their running AAdSys."""

    portal: PortalProcess
    orgs: dict[str, Organisation]
    pec: Side
    omis: Side

    def side(self, name: str) -> Side:
        return {"PEC": self.pec, "OMIS": self.omis}[name]

    def request(self, provider: Side, consumer: Side, mode: str = "realtime", valid_from: datetime | None = None,
                valid_to: datetime | None = None) -> str:
        """The consumer's administrator asks for the provider's published asset type over the portal's REST API
        (what ``aadsys connector request`` does, without starting a command line); its id. Real-time runs from now
        for 30 days unless told otherwise."""
        asset = wait_for(partial(self.published, provider), f"{provider.name} to publish {provider.publishes}")
        valid_from = valid_from or datetime.now(UTC)
        valid_to = valid_to or valid_from + timedelta(days=30)
        with self.portal.api(self.orgs[consumer.name].admin_token) as api:
            answer = api.post("/api/v1/subscriptions", json={"assetId": asset["id"], "mode": mode,
                                                             "validFrom": valid_from.isoformat(),
                                                             "validTo": valid_to.isoformat()})
        if answer.status_code != 201:
            raise BenchError(f"the portal refused {consumer.name}'s {mode} request: {answer.status_code} "
                             f"{answer.text}")
        return str(answer.json()["id"])

    def published(self, provider: Side) -> dict[str, Any] | None:
        """The provider's asset in the portal's catalog once its connector has published it (the portal's REST API:
        quicker than a command line per look)."""
        org = self.orgs[provider.name]
        with self.portal.api(org.admin_token) as api:
            items = api.get("/api/v1/assets", params={"org": org.org_id}).raise_for_status().json()["items"]
        return next((a for a in items if a["assetType"] == provider.publishes), None)

    def approve(self, provider: Side, subscription_id: str) -> None:
        """The provider's administrator approves, over the portal's REST API."""
        self.portal.decide(subscription_id, self.orgs[provider.name])

    def wait_channel(self, provider: Side, subscription_id: str) -> None:
        wait_for(partial(provider.member.channel_open, subscription_id), f"the channel of {subscription_id}")


@contextmanager
def partners(root: Path, database_urls: tuple[str | None, str | None], console: Console, *,
             realtime: Sequence[tuple[str, str]] = BOTH_WAYS,
             before_start: Callable[[Partners], None] | None = None, workers: int = 1) -> Iterator[Partners]:
    """A portal, PEC and OMIS serving on free loopback ports, with approved real-time subscriptions ``realtime``
    ((provider, consumer) names) whose channels are open; each AAdSys with ``workers`` worker processes (more
    than one needs PostgreSQL).

    ``before_start`` runs once both AAdSys are initialised (database migrated, asset types registered) and
    before either serves: the place to fill a database directly. Everything is stopped on the way out.
    """
    portal = PortalProcess(root / "portal")
    members = {name: AadsysProcess(root / name.lower(), org=name.lower(), base_iri=f"https://{name.lower()}.example",
                                   env={**QUICK, "AADSYS_CONNECTOR_PUBLISH": f'["{PUBLISHES[name]}"]'},
                                   workers=workers)
               for name in ("PEC", "OMIS")}
    urls = dict(zip(members, database_urls, strict=True))
    try:
        with console.status("starting the portal, initialising PEC and OMIS …"), ThreadPoolExecutor(2) as pool:
            # Side by side where they are independent: each step is a few command lines, mostly Python start-up.
            portal.init()
            orgs = dict(zip(members, pool.map(lambda name: portal.register(
                name, f"admin@{name.lower()}.example", "bench " + os.urandom(8).hex()), members), strict=True))
            portal.start()
            list(pool.map(lambda name: members[name].init(portal=portal, organisation=orgs[name],
                                                          database_url=urls[name]), members))
            for member in members.values():
                member.create_key()
        team = Partners(portal, orgs, *(Side(name, member, PUBLISHES[name], Owner(member.org, member.base_iri))
                                        for name, member in members.items()))
        if before_start is not None:
            before_start(team)
        ways = ", ".join(f"{provider} → {consumer}" for provider, consumer in realtime)
        with console.status("starting PEC and OMIS" + (f", subscribing {ways} …" if ways else " …")):
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda member: member.start(), members.values()))
            for provider_name, consumer_name in realtime:
                provider = team.side(provider_name)
                subscription = team.request(provider, team.side(consumer_name))
                team.approve(provider, subscription)
                team.wait_channel(provider, subscription)
        yield team
    except ProcessError as exc:
        raise BenchError(str(exc)) from None
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(AadsysProcess.stop, members.values()))
        portal.stop()

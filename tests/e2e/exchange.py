"""PEC and OMIS as portal members with connectors, and the steps the connector tests share.

Everything here goes through the processes' command lines and HTTP APIs: ``aadsys connector …`` for the
operator's view, the business API for records, the portal's REST API for decisions.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwt
from joserfc.jwk import ECKey

from aadsys.samples import sales_order
from aas_models import base64url
from tests.e2e.harness import (
    AadsysFactory,
    HarnessError,
    Organisation,
    PreparedAadsys,
    PreparedPortal,
    received,
    wait_for,
)

POLL_SECONDS = 0.5
# Tests wait for seconds, not minutes: quick portal rounds, quick re-sends and reconnects.
CONNECTOR_ENV = {"AADSYS_CONNECTOR_POLL_SECONDS": str(POLL_SECONDS), "AADSYS_CONNECTOR_RESEND_AFTER_SECONDS": "2",
                 "AADSYS_CONNECTOR_RECONNECT_MAX_SECONDS": "2"}


@dataclass(frozen=True)
class Outsider:
    """A third organisation with no AAdSys of its own but with what its connector would hold: keys registered at the
    portal and a valid grant for an approved subscription, e.g. a partner that misbehaves."""

    org: str
    subscription_id: str
    grant: str
    signing: Ed25519PrivateKey  # signs the channel handshake's proof; its public half is in the grant


@dataclass
class Exchange:
    """A portal, PEC (publishes Sales Orders) and OMIS (publishes Sales Order Status), both serving; others may
    ``join``.

    The organisations are registered for this exchange alone (``names``), so tests may share a portal.
    """

    portal: PreparedPortal
    make: AadsysFactory
    run: str  # what makes this exchange's organisation names its own
    members: dict[str, PreparedAadsys] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    subscriptions: list[str] = field(default_factory=list)

    @property
    def pec(self) -> PreparedAadsys:
        return self.members["pec"]

    @property
    def omis(self) -> PreparedAadsys:
        return self.members["omis"]

    def organisation(self, org: str) -> Organisation:
        return self.portal.orgs[self.names[org]]

    def member(self, org: str) -> PreparedAadsys:
        return self.members[org]

    def register(self, org: str) -> None:
        self.names[org] = f"{org.upper()} {self.run}"
        self.portal.register(self.names[org], f"admin-{self.run}@{org}.example")

    def join(self, org: str, publish: Sequence[str] = (), *, postgresql: bool = False, public_url: str | None = None,
             port: int | None = None, env: Mapping[str, str] | None = None, wait: bool = True) -> PreparedAadsys:
        """Register ``org`` (unless it is already) and start its AAdSys as a member with a write key, publishing
        ``publish`` at the portal."""
        if org not in self.names:
            self.register(org)
        process = self.make(org, org, f"https://{org}.example", self.organisation(org), postgresql=postgresql,
                            public_url=public_url,
                            env={**CONNECTOR_ENV, "AADSYS_CONNECTOR_PUBLISH": json.dumps(list(publish)),
                                 **(env or {})})
        process.create_key()
        process.start(port, wait=wait)
        self.members[org] = process
        return process

    def connector(self, org: str, *args: str) -> Any:
        """``aadsys connector <args> --json`` of one member, parsed."""
        return json.loads(self.member(org).cli_result("connector", *args, "--json"))

    def subscribe(self, asset_type: str = "sales-order", mode: str = "realtime", *, start: datetime | None = None,
                  end: datetime | None = None, approve: bool = True, cli: bool = False, by: str | None = None
                  ) -> str:
        """The consumer (OMIS for orders, PEC for status, else ``by``) asks (with ``aadsys connector request``, or
        the portal's REST API as a script would); the provider's administrator approves it."""
        consumer, provider = ("omis", "pec") if asset_type == "sales-order" else ("pec", "omis")
        consumer = by or consumer
        asset = wait_for(lambda: self.published(provider, asset_type),
                         f"{provider} to publish {asset_type}", timeout=30)
        if cli:
            args = ["request", "--asset", asset["id"], "--mode", mode]
            if start is not None:
                args += ["--from", start.isoformat()]
            if end is not None:
                args += ["--to", end.isoformat()]
            subscription_id = self.member(consumer).cli_result("connector", *args)
        else:
            start = start or now()
            end = end or start + timedelta(days=30)
            with self.portal.api(self.organisation(consumer).admin_token) as api:
                subscription_id = api.post("/api/v1/subscriptions", json={
                    "assetId": asset["id"], "mode": mode, "validFrom": start.isoformat(),
                    "validTo": end.isoformat()}).raise_for_status().json()["id"]
        if approve:
            self.portal.decide(subscription_id, self.organisation(provider))
        self.subscriptions.append(subscription_id)
        return subscription_id

    def outsider(self, org: str, asset_type: str = "sales-order") -> Outsider:
        """Register ``org``, register connector keys for it at the portal (as an organisation administrator may),
        have it ask for a real-time subscription to ``asset_type`` that the provider approves, and fetch its grant."""
        self.register(org)
        signing, encryption = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
        with self.portal.api(self.organisation(org).admin_token) as api:
            api.put("/api/v1/connector", json={
                "endpointUrl": f"https://{org}.example", "signingKey": _raw(signing), "encryptionKey": _raw(encryption),
            }).raise_for_status()
        subscription_id = self.subscribe(asset_type, by=org)
        with self.portal.api(self.organisation(org).admin_token) as api:
            grant = api.get(f"/api/v1/subscriptions/{subscription_id}/grant").raise_for_status().json()["grant"]
        return Outsider(org, subscription_id, str(grant), signing)

    def published(self, provider: str, asset_type: str) -> dict[str, Any] | None:
        """The provider's asset, once its connector has published it (the catalog, over the portal's API)."""
        publisher = self.organisation(provider)
        with self.portal.api(publisher.admin_token) as api:
            assets = api.get("/api/v1/assets", params={"org": publisher.org_id}).raise_for_status().json()["items"]
        return next((a for a in assets if a["assetType"] == asset_type), None)

    def live(self, org: str) -> dict[str, Any]:
        """``GET /connector/v1/status`` of a running member: what the CLI shows plus each channel's state."""
        return self.member(org).status()

    def subscription(self, org: str, subscription_id: str) -> dict[str, Any]:
        """The member's view of one subscription; empty until its connector has seen it at the portal."""
        return next((s for s in self.live(org)["subscriptions"] if s["id"] == subscription_id), {})

    def channel_open(self, subscription_id: str) -> bool:
        return self.pec.channel_open(subscription_id)

    def portal_view(self, subscription_id: str, org: str = "omis") -> dict[str, Any]:
        with self.portal.api(self.organisation(org).admin_token) as api:
            return dict(api.get(f"/api/v1/subscriptions/{subscription_id}").raise_for_status().json())


def _raw(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    """A public key as the portal takes it: base64url of its 32 raw bytes."""
    return base64url.encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def start_exchange(portal: PreparedPortal, make: AadsysFactory, *, postgresql: bool = False,
                   pec_public_url: str | None = None, pec_port: int | None = None,
                   env: dict[str, str] | None = None) -> Exchange:
    """Register PEC and OMIS (names of their own) at ``portal``, and initialise and start their AAdSys as members,
    each with a write key, each on a database of its own (SQLite, or PostgreSQL with ``postgresql``); both start
    side by side. ``pec_public_url`` and ``pec_port`` put something (a proxy) between OMIS and PEC: OMIS learns
    PEC's public URL from the portal."""
    exchange = Exchange(portal, make, run=uuid.uuid4().hex[:6])
    for org in ("pec", "omis"):
        exchange.register(org)
    exchange.join("pec", ["sales-order"], postgresql=postgresql, public_url=pec_public_url, port=pec_port, env=env,
                  wait=False)
    exchange.join("omis", ["sales-order-status"], postgresql=postgresql, env=env, wait=False)
    exchange.pec.wait_ready()
    exchange.omis.wait_ready()
    return exchange


def post_orders_concurrently(aadsys: PreparedAadsys, order_ids: Sequence[str], *, clients: int = 4,
                             size: int | None = None, retry_seconds: float = 60.0) -> None:
    """Post Sales Orders from ``clients`` threads, as an e-shop would; a refused connection (the provider being
    restarted) is retried with the same order, which the AAdSys takes idempotently."""
    def post(chunk: Sequence[str]) -> None:
        with aadsys.api() as api:
            for order_id in chunk:
                body = sales_order(order_id) if size is None else sales_order(order_id, target_bytes=size)
                deadline = time.monotonic() + retry_seconds
                while True:
                    try:
                        response = api.post("/api/v1/asset-types/sales-order/instances", json=body)
                        if response.status_code in (200, 201):
                            break
                        raise HarnessError(f"{order_id}: {response.status_code} {response.text}")
                    except httpx.TransportError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)

    chunks = [list(order_ids[i::clients]) for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        for done in [pool.submit(post, chunk) for chunk in chunks]:
            done.result()


class Poster(threading.Thread):
    """Posts orders in the background while a test kills and restarts processes."""

    def __init__(self, aadsys: PreparedAadsys, order_ids: Sequence[str]) -> None:
        super().__init__(daemon=True)
        self.aadsys, self.order_ids, self.error = aadsys, order_ids, None

    def run(self) -> None:
        try:
            post_orders_concurrently(self.aadsys, self.order_ids, clients=2)
        except BaseException as exc:  # handed to the test in finish()
            self.error = exc

    def finish(self, timeout: float = 180.0) -> None:
        self.join(timeout)
        if self.is_alive():
            raise HarnessError("posting did not finish in time")
        if self.error is not None:
            raise self.error


def keys_in_storage_order(items: Sequence[dict[str, Any]]) -> list[str]:
    return [item["key"] for item in sorted(items, key=lambda item: item["seq"])]


def assert_exactly_once_in_order(exchange: Exchange, order_ids: Sequence[str], timeout: float = 120.0) -> None:
    """Every Sales Order PEC stored arrived at OMIS once, with the same content, stored in PEC's order."""
    expected = len(order_ids)
    wait_for(lambda: len(received(exchange.omis, "sales-order", "pec")) >= expected,
             f"{expected} orders at OMIS", timeout=timeout)
    time.sleep(POLL_SECONDS * 2)  # a duplicate would show up now
    wanted = set(order_ids)
    at_pec = [i for i in exchange.pec.instances("sales-order") if i["key"] in wanted]
    at_omis = received(exchange.omis, "sales-order", "pec")
    assert len(at_omis) == expected, f"{len(at_omis)} stored at OMIS for {expected} posted"
    assert keys_in_storage_order(at_omis) == keys_in_storage_order(at_pec)
    assert {i["key"]: i["sha256"] for i in at_omis} == {i["key"]: i["sha256"] for i in at_pec}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def refused(exchange: Exchange, org: str) -> dict[str, int]:
    """Refusals so far by code, from the member's status endpoint (what `aadsys connector status` shows)."""
    return dict(exchange.live(org)["refused"])


def grant_of(exchange: Exchange, subscription: str) -> str:
    """OMIS's real grant, as OMIS's connector fetches it (anyone who steals it has this much)."""
    with exchange.portal.api(exchange.organisation("omis").admin_token) as api:
        return str(api.get(f"/api/v1/subscriptions/{subscription}/grant").raise_for_status().json()["grant"])


def forged_grant(exchange: Exchange, subscription: str) -> str:
    """OMIS's grant with other consumer keys, signed with a key of the forger's own under the portal's kid: the
    provider refuses it ``bad-signature``."""
    real = grant_of(exchange, subscription)
    return jwt.encode(_part(real, 0), {**_part(real, 1), "consumerKeys": {"signing": "x", "encryption": "y"}},
                      ECKey.generate_key("P-256"), algorithms=["ES256"])


def _part(token: str, index: int) -> dict[str, Any]:
    """The header (0) or claims (1) of a JWT, read without checking anything."""
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))

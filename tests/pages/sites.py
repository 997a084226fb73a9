"""The three web apps as people meet them, each on a real uvicorn with data in it: the portal with two partners'
subscriptions in every state a page draws, the shop with an order that has a production history, and the line
busy with orders. Shared by the page tests (phone width, screenshots, refused forms) through ``conftest.py``.

Data goes in the way the apps' own workers put it there: the portal's services, the shop's form and its status
follower's store step, the line's ERP ``take_order``. Nothing of the apps is replaced.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from sqlmodel import select

from abm_portal.app import create_app as create_portal_app
from abm_portal.cli import prepare
from abm_portal.config import Settings as PortalSettings
from abm_portal.models import Organisation
from abm_portal.services import (
    access_tokens,
    assets,
    organisations,
    progress,
    subscriptions,
    throttle,
    transfers,
    users,
)
from abm_portal.services.actors import Actor
from omis_line.config import Settings as LineSettings
from omis_line.db import migrate as migrate_line
from omis_line.erp import FetchedLabel, take_order
from omis_line.web.app import create_app as create_line_app
from omis_line.web.auth import hash_password
from pec_shop.app import create_app as create_shop_app
from pec_shop.staff import hash_password as hash_staff_password
from pec_shop.status_follower import StatusFollower
from tests.omis_line.conftest import sales_order
from tests.pec_shop.shop_support import CLOSED_URL, make_settings, post_order
from tests.support.live_server import live_server, loopback_client
from tests.support.postgres import free_port

PASSWORD = "correct horse battery staple"
OPERATOR_PASSWORD = "bottles all the way"
STAFF_PASSWORD = "juice for everyone"


@dataclass
class PortalSite:
    """A portal with PEC and OMIS, as in the demo; ``ids`` names the assets and subscriptions by what they are."""

    url: str
    app: Any
    settings: PortalSettings
    users: dict[str, str]  # role in the story -> email
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class ShopSite:
    url: str
    app: Any
    order_token: str


@dataclass
class LineSite:
    url: str
    app: Any


def label_png(text: str = "Happy birthday", size: tuple[int, int] = (360, 120)) -> bytes:
    image = Image.new("RGB", size, "#fde3c8")
    ImageDraw.Draw(image).text((16, size[1] // 2 - 6), text, fill="#c0392b")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- the portal -------------------------------------------------------------------------------------------------

def _actor(db: Any, email: str) -> Actor:
    return users.actor_for_user(db, users.find_user(db, email))


def _publish(db: Any, actor: Actor, name: str, asset_type: str, description: str) -> str:
    owner = actor.org_name.split()[0].lower() if actor.org_name else "org"
    published = assets.publish_asset(db, actor, {
        "name": name, "description": description, "asset_type": asset_type, "visibility": "public",
        "semantic_ids": [f"https://{owner}.example/ids/sm/{name.replace(' ', '')}/1/0"]})
    return published.id


def connector_actor(db: Any, settings: PortalSettings, org_name: str) -> Actor:
    """The organisation's connector as the API knows it after the client-credentials grant."""
    org = db.exec(select(Organisation).where(Organisation.name == org_name)).one()
    return access_tokens.actor_for_access_token(db, settings, access_tokens.issue_access_token(db, settings, org).value)


def seed_portal(database: Any, settings: PortalSettings) -> tuple[dict[str, str], dict[str, str]]:
    """PEC and OMIS exchange data both ways; every state a subscription page draws is there once."""
    people = {"pec_admin": "admin@pec.example", "pec_member": "buyer@pec.example", "omis_admin": "admin@omis.example",
              "operator": "operator@portal.example"}
    ids: dict[str, str] = {}
    now = datetime.now(UTC).replace(microsecond=0)
    with database.session() as db:
        organisations.register_organisation(db, name="PEC Juice Shop", description="Individually mixed juices, "
                                            "ordered online.", admin_email=people["pec_admin"],
                                            admin_password=PASSWORD)
        organisations.register_organisation(db, name="OMIS Bottling", description="A six-station bottling line "
                                            "with RFID trace.", admin_email=people["omis_admin"],
                                            admin_password=PASSWORD)
        pec, omis = _actor(db, people["pec_admin"]), _actor(db, people["omis_admin"])
        users.add_member(db, pec, email=people["pec_member"], password=PASSWORD)
        users.create_operator(db, email=people["operator"], password=PASSWORD)

        ids["sales_order"] = _publish(db, pec, "Sales Order", "sales-order",
                                      "Every order placed in the shop: mix, label and quantity.")
        ids["forecast"] = _publish(db, pec, "Weekly Demand Forecast", "demand-forecast",
                                   "Bottles expected per size and week.")
        ids["status"] = _publish(db, omis, "Sales Order Status", "sales-order-status",
                                 "Where each order is on the line, station by station.")
        ids["oee"] = _publish(db, omis, "Line OEE", "line-oee", "Availability, performance and quality per shift.")
        ids["trace"] = _publish(db, omis, "Bottle Trace", "bottle-trace", "RFID passes of every bottle.")

        def request(actor: Actor, asset: str, mode: str, start: datetime, end: datetime) -> str:
            return subscriptions.request_subscription(db, actor, asset_id=ids[asset], mode=mode, valid_from=start,
                                                      valid_to=end).id

        # PEC follows its orders' status at OMIS, live; both connectors have reported and agree.
        ids["live"] = request(pec, "status", "realtime", now, now + timedelta(days=30))
        subscriptions.approve(db, omis, ids["live"])
        progress.report(db, connector_actor(db, settings, "OMIS Bottling"), ids["live"], side="provider", count=42,
                        last_seq=42, expired=0)
        progress.report(db, pec, ids["live"], side="consumer", count=42, last_seq=42)
        # PEC asked for last month's OEE; the connectors' reports disagree, so the transfer failed.
        ids["history"] = request(pec, "oee", "historical", now - timedelta(days=30), now - timedelta(days=1))
        subscriptions.approve(db, omis, ids["history"])
        job = transfers.list_transfers(db, omis)[0]
        transfers.report(db, omis, job.id, side="provider", count=120, digest="sha256:" + "a" * 64)
        transfers.report(db, pec, job.id, side="consumer", count=118, digest="sha256:" + "b" * 64)
        ids["transfer"] = job.id
        # OMIS refused PEC's request for the bottle trace.
        ids["rejected"] = request(pec, "trace", "historical", now - timedelta(days=7), now - timedelta(hours=1))
        subscriptions.reject(db, omis, ids["rejected"], reason="Traces are shared with certified partners only.")
        # OMIS takes PEC's Sales Orders live; the window closes in two days and two deliveries expired unstored.
        ids["orders"] = request(omis, "sales_order", "realtime", now - timedelta(days=28), now + timedelta(days=2))
        subscriptions.approve(db, pec, ids["orders"])
        progress.report(db, pec, ids["orders"], side="provider", count=17, last_seq=17, expired=2)
        progress.report(db, omis, ids["orders"], side="consumer", count=15, last_seq=17)
        # OMIS asks for PEC's forecast: PEC's administrator has a request to decide.
        ids["pending"] = request(omis, "forecast", "realtime", now, now + timedelta(days=90))
        # Someone keeps trying PEC's connector client with a wrong secret: it is locked out.
        client_id = db.exec(select(Organisation.client_id).where(Organisation.name == "PEC Juice Shop")).one()
        for _ in range(settings.auth_lockout_failures):
            throttle.record_failure(db, settings, throttle.client_keys(client_id, "198.51.100.7"))
        ids["pec_client"] = client_id
    return people, ids


@contextmanager
def running_portal(data_dir: Path) -> Iterator[PortalSite]:
    settings = PortalSettings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'portal.db'}")
    prepare(settings, make_kek=True)
    app = create_portal_app(settings)
    people, ids = seed_portal(app.state.portal.database, settings)
    with live_server(app) as url:
        yield PortalSite(url, app, settings, people, ids)


# --- the shop ---------------------------------------------------------------------------------------------------

def _status(order_id: str, status: str, station: str | None, minute: int) -> dict[str, Any]:
    """A Sales Order Status revision as PEC's AAdSys serves it (its times carry microseconds)."""
    stations = ["loading", "mixing", "filling"][: {"received": 0, "scheduled": 0, "in_production": 3}[status]]
    trace = [{"station": s, "entered": f"2026-12-07T05:4{i}:05.123000Z", "left": f"2026-12-07T05:4{i}:55.456000Z",
              "result": "ok"} for i, s in enumerate(stations)]
    return {"orderId": order_id, "status": status, "currentStation": station, "rfidTag": "E280-1160-6000-0001",
            "trace": trace, "updatedAt": f"2026-12-07T05:{40 + minute}:11.178000Z"}


@contextmanager
def running_shop(data_dir: Path) -> Iterator[ShopSite]:
    """The shop with its default limits (2 MiB images), its staff login, and an order that OMIS has started to
    bottle."""
    settings = make_settings(data_dir, CLOSED_URL, retry_seconds=5.0, retry_max_seconds=30.0, poll_seconds=30.0)
    settings.staff_password_file.write_text(hash_staff_password(STAFF_PASSWORD))
    app = create_shop_app(settings)
    with live_server(app) as url:
        with loopback_client(base_url=url) as client:
            placed = post_order(client, customer_name="Nur Aina binti Abdullah", bottle_size_ml="330",
                                ingredient=["mango", "orange", "ginger"], ratio=["50", "40", "10"],
                                label_text="Selamat hari jadi, Aina! From all of us at the office",
                                image=("label.png", label_png(), "image/png"))
            assert placed.status_code == 303, placed.text
            token = placed.headers["location"].removeprefix("/orders/")
            order_id = client.get(f"/api/orders/{token}").json()["orderId"]
        shop = app.state.shop
        follower = StatusFollower(shop.db, None, shop.changes, settings, shop.metrics)  # type: ignore[arg-type]
        for seq, (status, station) in enumerate([("received", None), ("scheduled", None),
                                                 ("in_production", "filling")], start=1):
            follower._apply(seq, {"revision": seq, "provider": "omis"}, _status(order_id, status, station, seq))
        yield ShopSite(url, app, token)


# --- the line ---------------------------------------------------------------------------------------------------

@contextmanager
def running_line(data_dir: Path) -> Iterator[LineSite]:
    """A line in production: slow stations keep bottles in them, the queue and the orders table full."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "aadsys-api-key").write_text("aak_test\n")
    (data_dir / "operator-password.argon2").write_text(hash_password(OPERATOR_PASSWORD))
    settings = LineSettings(data_dir=data_dir, aadsys_url=f"http://127.0.0.1:{free_port()}",
                            station_seconds="30,30", failure_probability=0.0, seed=11, retry_max_seconds=30)
    migrate_line(settings.resolved_database_url)
    app = create_line_app(settings)
    label = label_png("Line check")
    sha = hashlib.sha256(label).hexdigest()
    with live_server(app) as url:
        runtime = app.state.runtime
        for order_id, quantity, ratios in (
                ("SO-20261207-3f9a1c7e2b", 2, (("mango", "0.5"), ("orange", "0.4"), ("ginger", "0.1"))),
                ("SO-20261207-8d04be51aa", 6, (("apple", "0.7"), ("beetroot", "0.3")))):
            raw = sales_order(order_id, quantity=quantity, ratios=ratios, label=label)
            with runtime.database.session() as session:
                take_order(session, raw, {sha: FetchedLabel(sha, "image/png", label)})
        runtime.nudge()
        yield LineSite(url, app)

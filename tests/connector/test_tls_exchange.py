"""One whole exchange over TLS (issue 24): the portal and three AAdSys with their connectors, each on a real uvicorn
TLS listener with a certificate made by the code of ``aadsys certs``, every client verifying with its
``tls_ca_file``. A Sales Order crosses from PEC to OMIS over https and wss; NOVA, a consumer with an approved
subscription that trusts only the portal's CA and not PEC's, is refused at PEC's listener, says why in its channel
status, and stores nothing.

The four run in this test's process (a thread and an event loop each), which costs a few seconds where four
``serve`` processes would cost many more; the listeners, the clients and the channel are the real ones.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aadsys.core import api_keys
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from aadsys.processes import wait_for
from aadsys.samples import sales_order
from abm_portal.app import create_app as create_portal
from abm_portal.cli import prepare as prepare_portal
from abm_portal.config import Settings as PortalSettings
from abm_portal.services import organisations, personal_tokens, users
from connector import ConnectorExtension
from tests.support.databases import AadsysTemplates
from tests.support.live_server import live_server
from tests.support.pki import Pki
from tests.support.postgres import free_port

PASSWORD = "juice over tls all the way down"


class Member:
    """An AAdSys with its connector, serving TLS; ``client`` calls its business API with a write key."""

    def __init__(self, url: str, context: AadsysContext, tls: ssl.SSLContext) -> None:
        key = api_keys.create_key(context.db, "erp", ["write"])
        self.url, self.context = url, context
        self.client = httpx.Client(base_url=url, headers={"X-API-Key": key}, verify=tls, timeout=10)

    def received(self, provider: str) -> list[dict[str, Any]]:
        page = self.client.get("/api/v1/asset-types/sales-order/instances", params={"provider": provider})
        return list(page.raise_for_status().json()["items"])

    def channel(self, subscription_id: str) -> dict[str, Any]:
        subscriptions = self.client.get("/connector/v1/status").raise_for_status().json()["subscriptions"]
        return next((dict(s.get("channel") or {}) for s in subscriptions if s["id"] == subscription_id), {})


@pytest.fixture
def chain(tmp_path: Path, aadsys_templates: AadsysTemplates, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[httpx.Client, dict[str, Any], dict[str, Member]]]:
    """The portal (certificate of ``portal-ca``), PEC (of its own ``pec-ca``), OMIS (trusts both CAs) and NOVA
    (trusts ``portal-ca`` only), all serving; yields a portal client, the organisations' admin tokens, members."""
    monkeypatch.setenv("AADSYS_CONNECTOR_POLL_SECONDS", "0.3")  # connectors read the environment in-process too
    monkeypatch.setenv("AADSYS_CONNECTOR_RECONNECT_MAX_SECONDS", "1")
    pki = Pki(tmp_path / "pki")
    ports = {name: free_port() for name in ("portal", "pec", "omis", "nova")}
    portal_url = f"https://127.0.0.1:{ports['portal']}"
    portal_cert = pki.server("portal", ca="portal-ca")
    settings = PortalSettings(data_dir=tmp_path / "portal", database_url=f"sqlite:///{tmp_path / 'portal.db'}",
                              public_url=portal_url, tls_cert=portal_cert.cert_file, tls_key=portal_cert.key_file)
    prepare_portal(settings, make_kek=True)
    portal_app = create_portal(settings)
    orgs: dict[str, Any] = {}
    with portal_app.state.portal.database.session() as db:
        for org in ("pec", "omis", "nova"):
            made, admin, secret = organisations.register_organisation(
                db, name=org.upper(), description="TLS test", admin_email=f"admin@{org}.example",
                admin_password=PASSWORD)
            token = personal_tokens.create_personal_token(db, users.actor_for_user(db, admin), "tests")
            orgs[org] = {"id": made.id, "client_id": made.client_id, "secret": secret, "token": token}
    trust = {"pec": pki.trusting("portal-ca"), "omis": pki.trusting("portal-ca", "pec-ca"),
             "nova": pki.trusting("portal-ca")}
    with ExitStack() as stack:
        stack.enter_context(live_server(portal_app, port=ports["portal"], tls_cert=settings.tls_cert,
                                        tls_key=settings.tls_key))
        members = {}
        for org in ("pec", "omis", "nova"):
            certificate = pki.server(org, ca="pec-ca" if org == "pec" else "portal-ca")
            secret_file = tmp_path / f"{org}-secret"
            secret_file.write_text(orgs[org]["secret"])
            member = aadsys_templates.settings(  # NOVA: a copy of OMIS's template (the slug is only local)
                tmp_path / org, "omis" if org == "nova" else org, f"https://{org}.example", portal_url=portal_url,
                client_id=orgs[org]["client_id"], client_secret_file=secret_file,
                public_url=f"https://127.0.0.1:{ports[org]}", tls_cert=certificate.cert_file,
                tls_key=certificate.key_file, tls_ca_file=trust[org])
            context = AadsysContext.build(member)
            stack.callback(context.db.dispose)
            app = create_app(member, context=context, extensions=[ConnectorExtension()])
            url = stack.enter_context(live_server(app, port=ports[org], tls_cert=member.tls_cert,
                                                  tls_key=member.tls_key))
            members[org] = Member(url, context, pki.context("portal-ca", "pec-ca"))
            stack.callback(members[org].client.close)
        portal = stack.enter_context(httpx.Client(base_url=portal_url, verify=pki.context("portal-ca"), timeout=10))
        yield portal, orgs, members


def test_a_sales_order_crosses_on_wss_and_a_consumer_that_trusts_another_ca_is_refused_and_gets_nothing(
        chain: tuple[httpx.Client, dict[str, Any], dict[str, Member]]) -> None:
    portal, orgs, members = chain

    def as_admin(org: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {orgs[org]['token']}"}

    def pec_orders() -> dict[str, Any] | None:
        items = portal.get("/api/v1/assets", params={"org": orgs["pec"]["id"]}, headers=as_admin("omis")).json()
        return next((a for a in items["items"] if a["assetType"] == "sales-order"), None)

    asset = wait_for(pec_orders, "PEC's connector to publish its Sales Orders over https", timeout=30)
    start = datetime.now(UTC) - timedelta(minutes=1)
    subscriptions = {}
    for consumer in ("omis", "nova"):
        asked = portal.post("/api/v1/subscriptions", headers=as_admin(consumer), json={
            "assetId": asset["id"], "mode": "realtime", "validFrom": start.isoformat(),
            "validTo": (start + timedelta(days=1)).isoformat()})
        subscriptions[consumer] = asked.raise_for_status().json()["id"]
        portal.post(f"/api/v1/subscriptions/{subscriptions[consumer]}/approve",
                    headers=as_admin("pec")).raise_for_status()
    members["pec"].client.post("/api/v1/asset-types/sales-order/instances",
                               json=sales_order("TLS-0001")).raise_for_status()

    arrived = wait_for(lambda: members["omis"].received("pec"), "the order to reach OMIS over wss", timeout=30)
    refused = wait_for(lambda: members["nova"].channel(subscriptions["nova"]).get("lastError"),
                       "NOVA's channel to PEC to be refused", timeout=30)

    assert [item["key"] for item in arrived] == ["TLS-0001"], arrived
    assert members["omis"].channel(subscriptions["omis"])["connected"]
    pec = members["pec"].url.removeprefix("https://")
    assert refused.startswith(f"challenge: TLS: the certificate of {pec} is refused: unable to get local issuer "
                              "certificate; it is not signed by a CA this side trusts: set tls_ca_file"), refused
    assert members["nova"].received("pec") == []
    assert not members["nova"].channel(subscriptions["nova"]).get("connected")
    print(f"NOVA's channel status lastError: {refused}")

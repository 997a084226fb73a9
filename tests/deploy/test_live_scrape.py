"""Debian's Prometheus scrapes the four kinds of server of the pilot on loopback, each with its own metrics token,
and a PromQL query through its HTTP API counts what was done: N instances created at the AAdSys give N; N orders
PEC's connector delivered to OMIS's give N stored deliveries, and a forged grant moves the refusal counter.

The pilot's servers run in this process on real uvicorn servers (``tests.support.live_server``); the PEC/OMIS pair
are real ``aadsys serve`` processes with their connectors, members of the session's portal (``portal`` and
``module_aadsys_factory``, in ``tests/conftest.py``); Prometheus is a real process (``tests.support.prometheus``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from aadsys.cli import prepare
from aadsys.config import Settings as AadsysSettings
from aadsys.core import api_keys
from aadsys.gateway.app import create_app as aadsys_app
from aadsys.gateway.context import AadsysContext
from abm_portal.app import create_app as portal_app
from abm_portal.cli import prepare as prepare_portal
from abm_portal.config import Settings as PortalSettings
from omis_line.config import Settings as LineSettings
from omis_line.db import migrate as migrate_line
from omis_line.web.app import create_app as line_app
from omis_line.web.auth import hash_password
from tests.aadsys.conftest import order
from tests.e2e.exchange import Exchange, forged_grant, start_exchange
from tests.e2e.harness import AadsysFactory, PreparedPortal, http_client, post_orders, received, wait_for
from tests.pec_shop.shop_support import make_settings as shop_settings
from tests.pec_shop.shop_support import running_shop
from tests.support.live_server import live_server, loopback_client
from tests.support.prometheus import PrometheusServer, Target, running_prometheus, write_token

N = 5
CHALLENGES = "/connector/v1/challenges"


@dataclass
class Pilot:
    prometheus: PrometheusServer
    aadsys_url: str
    write_key: str


@pytest.fixture
def pilot(tmp_path: Path) -> Iterator[Pilot]:
    with ExitStack() as stack:
        settings = AadsysSettings(data_dir=tmp_path / "pec", org="pec", base_iri="https://pec.example")
        prepare(settings)
        ctx = AadsysContext.build(settings)
        stack.callback(ctx.db.dispose)
        key = api_keys.create_key(ctx.db, "shop", ["write"])
        aadsys_url = stack.enter_context(live_server(aadsys_app(settings, context=ctx, extensions=[])))

        portal = PortalSettings(data_dir=tmp_path / "portal")
        prepare_portal(portal, make_kek=True)
        portal_url = stack.enter_context(live_server(portal_app(portal)))

        shop = stack.enter_context(running_shop(shop_settings(tmp_path / "shop", aadsys_url=aadsys_url, key=key)))

        (tmp_path / "line").mkdir()
        (tmp_path / "line" / "aadsys-api-key").write_text(key + "\n")
        (tmp_path / "line" / "operator-password.argon2").write_text(hash_password("pw"))
        line = LineSettings(data_dir=tmp_path / "line", aadsys_url=aadsys_url)
        migrate_line(line.resolved_database_url)
        line_url = stack.enter_context(live_server(line_app(line)))

        targets = [Target("aadsys-pec", aadsys_url, settings.resolved_metrics_token_file, {"company": "pec"}),
                   Target("abm-portal", portal_url, portal.resolved_metrics_token_file),
                   Target("pec-shop", shop.url, shop.settings.resolved_metrics_token_file, {"company": "pec"}),
                   Target("omis-line", line_url, line.resolved_metrics_token_file, {"company": "omis"}),
                   Target("wrong-token", aadsys_url, tmp_path / "wrong-token")]
        for target in targets:
            write_token(target.token_file)
        yield Pilot(stack.enter_context(running_prometheus(tmp_path / "prometheus", targets)), aadsys_url, key)


def test_prometheus_counts_the_instances_created_and_scrapes_only_with_the_right_token(pilot: Pilot) -> None:
    prometheus = pilot.prometheus
    prometheus.wait_for('count(up{job!="wrong-token"} == 1)', 4)
    prometheus.wait_for('up{job="wrong-token"}', 0)  # another token: 401, the scrape fails
    with loopback_client(base_url=pilot.aadsys_url, headers={"X-API-Key": pilot.write_key}) as api:
        for n in range(N):
            api.post("/api/v1/asset-types/sales-order/instances", json=order(f"SO-{n}")).raise_for_status()
    prometheus.wait_for('sum(aadsys_instances_created_total{job="aadsys-pec", asset_type="sales-order"})', N)
    assert prometheus.value('aadsys_ready{job="aadsys-pec"}') == 1
    assert prometheus.value('sum(abm_portal_subscriptions{job="abm-portal"})') == 0
    assert prometheus.value('omis_line_oee_window_seconds{job="omis-line"}') == 15 * 60


@pytest.fixture
def partners(portal: PreparedPortal, module_aadsys_factory: AadsysFactory) -> Exchange:
    """PEC and OMIS serving, OMIS subscribed to PEC's Sales Orders in real time, the channel open."""
    pair = start_exchange(portal, module_aadsys_factory)
    orders = pair.subscribe("sales-order")
    wait_for(lambda: pair.channel_open(orders), "the Sales Order channel to open", timeout=30)
    return pair


def test_prometheus_counts_the_deliveries_a_pec_omis_pair_stored_and_the_refusal_of_a_forged_grant(
        partners: Exchange, tmp_path: Path) -> None:
    pec, omis = partners.pec, partners.omis
    orders = partners.subscriptions[0]
    targets = [Target("aadsys-pec", pec.url, pec.data_dir / "metrics-token", {"company": "pec"}),
               Target("aadsys-omis", omis.url, omis.data_dir / "metrics-token", {"company": "omis"})]
    for target in targets:
        write_token(target.token_file)  # the default metrics_token_file, read at each scrape
    with running_prometheus(tmp_path / "prometheus", targets) as prometheus:
        prometheus.wait_for("count(up == 1)", 2)

        post_orders(pec, N, prefix="SCRAPE")
        wait_for(lambda: len(received(omis, "sales-order", "pec")) == N, f"{N} orders at OMIS", timeout=30)

        prometheus.wait_for('sum(aadsys_connector_deliveries_total{event="stored"})', N)
        prometheus.wait_for('sum(aadsys_connector_deliveries_total{job="aadsys-omis", event="received"})', N)
        prometheus.wait_for(f'aadsys_connector_lag_seqs{{job="aadsys-pec", subscription="{orders}"}}', 0)
        for job, role in (("aadsys-pec", "provider"), ("aadsys-omis", "consumer")):
            mine = f'job="{job}", subscription="{orders}", role="{role}"'
            assert prometheus.value(f"aadsys_connector_subscription_active{{{mine}}}") == 1
            assert prometheus.value(f"aadsys_connector_channel_up{{{mine}}}") == 1
        assert prometheus.value('min(aadsys_connector_portal_reachable)') == 1

        refusals = 'sum(aadsys_connector_refusals_total{job="aadsys-pec", code="bad-signature"}) or vector(0)'
        before = prometheus.value(refusals)
        with http_client(pec.url) as client:
            answer = client.post(CHALLENGES, headers={"Authorization": f"Bearer {forged_grant(partners, orders)}"})
        assert answer.status_code == 401 and answer.json()["code"] == "bad-signature", answer.text
        prometheus.wait_for(refusals, (before or 0) + 1)
        assert prometheus.value('aadsys_connector_refusals_total{job="aadsys-pec", code="bad-signature"}') == 1

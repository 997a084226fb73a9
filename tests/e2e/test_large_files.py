"""A large file travels by one-time link, streamed through both sides with its digest checked on the way."""

from __future__ import annotations

import hashlib
import os

import pytest

from aadsys.samples import sales_order
from tests.e2e.exchange import Exchange, start_exchange
from tests.e2e.harness import AadsysFactory, PreparedPortal, received, wait_for

MB = 1024 * 1024
FILE_BYTES = 20 * MB


@pytest.fixture
def exchange(portal: PreparedPortal, aadsys_factory: AadsysFactory) -> Exchange:
    pair = start_exchange(portal, aadsys_factory)
    subscription = pair.subscribe()
    wait_for(lambda: pair.channel_open(subscription), "the channel to open", timeout=30)
    return pair


def test_a_20_mb_label_image_arrives_by_link_intact_and_neither_side_holds_it_in_memory(
        exchange: Exchange, record_property: pytest.RecordProperty) -> None:
    content = os.urandom(FILE_BYTES)
    digest = hashlib.sha256(content).hexdigest()
    before = {side: exchange.member(side).peak_rss_bytes() for side in ("pec", "omis")}
    with exchange.pec.api() as api:
        api.post("/api/v1/files", content=content, headers={"Content-Type": "image/png"}).raise_for_status()
        order = sales_order("BIG-1")
        order["items"][0]["labelImage"] = {"sha256": digest, "contentType": "image/png"}
        api.post("/api/v1/asset-types/sales-order/instances", json=order).raise_for_status()

    wait_for(lambda: received(exchange.omis, "sales-order", "pec"), "the order with its 20 MB label", timeout=60)

    at_omis = hashlib.sha256()
    with exchange.omis.api() as api, api.stream("GET", f"/api/v1/files/{digest}") as response:
        for chunk in response.iter_bytes():
            at_omis.update(chunk)
    assert at_omis.hexdigest() == digest
    after = {side: exchange.member(side).peak_rss_bytes() for side in ("pec", "omis")}
    for side in ("pec", "omis"):
        record_property(f"{side}_peak_rss_mb", f"{before[side] / MB:.0f} → {after[side] / MB:.0f}")
        grown = after[side] - before[side]
        assert grown < FILE_BYTES, f"{side} peak RSS grew by {grown / MB:.1f} MB"

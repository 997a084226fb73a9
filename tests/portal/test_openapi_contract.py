"""The portal's OpenAPI document tells the truth: schemathesis ``--checks all`` finds nothing (issue 9).

Run as an organisation admin (personal token) on a portal holding a partner's published asset and a subscription
to it, so the ``{id}`` operations are reached with identifiers that exist as well as with ones that do not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.portal.conftest import LivePortal
from tests.support.contract import run_schemathesis

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = 15  # per operation and phase: ~1,100 cases


def _held(portal: LivePortal) -> tuple[str, dict[str, list[str]]]:
    """An admin's token, and identifiers it may see, by the document's parameter names."""
    provider, consumer = portal.register("Provider"), portal.register("Consumer")
    with portal.client(provider.admin_token) as api:
        asset = api.post("/api/v1/assets", json={"name": "Sales Order Status", "assetType": "sales-order-status"})
    assert asset.status_code == 201, asset.text
    with portal.client(consumer.admin_token) as api:
        sub = api.post("/api/v1/subscriptions", json={"assetId": asset.json()["id"], "mode": "realtime",
                                                      "validFrom": "2026-01-01T00:00:00Z",
                                                      "validTo": "2099-01-01T00:00:00Z"})
    assert sub.status_code == 201, sub.text
    return consumer.admin_token, {"path.asset_id": [asset.json()["id"]],
                                  "path.subscription_id": [sub.json()["id"]],
                                  "path.org_id": [provider.org_id, consumer.org_id]}


@pytest.mark.timeout(300)  # ~1,100 cases: 35 s idle, past the suite's 120 s once on a loaded 2-core machine
def test_schemathesis_finds_no_failure_in_the_portal_api(live_portal: LivePortal, tmp_path: Path) -> None:
    token, known = _held(live_portal)
    report = run_schemathesis(f"{live_portal.url}/openapi.json", {"Authorization": f"Bearer {token}"},
                              config=CONFIG, examples=EXAMPLES, workdir=tmp_path, known=known)
    print(report.summary())
    assert report.failures == [] and report.errors == [], report.summary() + "\n" + report.output
    assert report.generated >= 1000, report.summary()
    assert report.operations >= 25, report.summary()

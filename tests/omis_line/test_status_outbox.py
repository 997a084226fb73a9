"""The status outbox against a real AAdSys process: revisions decided while it is down arrive, in order and
complete, once it is up; the ERP ignores Sales Orders that are not the partner's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omis_line import erp
from omis_line.clock import parse_iso
from tests.e2e.harness import PreparedAadsys
from tests.omis_line.conftest import sales_order, wait_for
from tests.support.databases import AadsysTemplates
from tests.support.postgres import free_port


def essence(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a revision says, whatever way the AAdSys spells it back (it leaves out nulls, writes microseconds)."""
    return (status["status"], status.get("currentStation"), status.get("rfidTag"),
            [(t["station"], parse_iso(t["entered"]), parse_iso(t["left"]), t["result"]) for t in status["trace"]],
            parse_iso(status["updatedAt"]))


def test_revisions_decided_while_the_aadsys_is_down_arrive_in_order_when_it_comes_up(
        tmp_path: Path, line_settings: Callable[..., Any], running_line: Callable[..., Any],
        aadsys_templates: AadsysTemplates) -> None:
    port = free_port()
    aadsys = PreparedAadsys(tmp_path / "omis", aadsys_templates, org="omis", base_iri="https://omis.example")
    aadsys.init()
    key = aadsys.create_key("line")
    settings = line_settings(aadsys_url=f"http://127.0.0.1:{port}")
    settings.resolved_api_key_file.write_text(key + "\n")
    try:
        with running_line(settings) as line:
            line.take(sales_order("SO-OUTBOX", quantity=1))
            done = line.wait_state("SO-OUTBOX", "completed")
            assert done["statusRevisionsPosted"] == 0 and done["statusRevisionsPending"] == 9

            aadsys.start(port)
            wait_for(lambda: line.order("SO-OUTBOX")["statusRevisionsPosted"] == 9,
                     "the outbox to drain into the AAdSys", timeout=30)
            decided = line.revisions("SO-OUTBOX")

            # an own record of the AAdSys (provider null) is not the partner's: the ERP moves past it
            with aadsys.api() as client:
                posted = client.post("/api/v1/asset-types/sales-order/instances",
                                     content=sales_order("SO-OWN", quantity=1, label=None),
                                     headers={"Content-Type": "application/json"})
                assert posted.status_code == 201, posted.text

            def position() -> int | None:
                with line.runtime.database.session() as session:
                    return erp.last_event_id(session)

            wait_for(lambda: (position() or 0) >= 1 and line.runtime.follower.connected,
                     "the follower to pass the AAdSys's own order", timeout=15)
            assert line.client.get("/api/orders/SO-OWN").status_code == 404

        with aadsys.api() as client:
            stored = [client.get("/api/v1/asset-types/sales-order-status/instances/SO-OUTBOX",
                                 params={"revision": n}) for n in range(1, 10)]
            latest = client.get("/api/v1/asset-types/sales-order-status/instances/SO-OUTBOX")
    finally:
        aadsys.stop()

    assert [r.status_code for r in stored] == [200] * 9
    assert [essence(r.json()) for r in stored] == [essence(d) for d in decided]
    assert latest.headers["X-Revision"] == "9" and latest.json()["status"] == "completed"
    assert [r.json()["status"] for r in stored] == ["received", "scheduled", *["in_production"] * 6, "completed"]

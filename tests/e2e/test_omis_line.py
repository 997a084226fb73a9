"""OMIS's line in the value chain: a Sales Order with a label image posted to PEC reaches OMIS over the real
connector, the line takes it from OMIS's event stream, bottles it, and its Sales Order Status revisions travel back
to PEC. The line runs as its own process, driven by its CLI and HTTP API only."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from tests.e2e.exchange import Exchange
from tests.e2e.harness import ServerProcess, wait_for

STATIONS = ["loading", "mixing", "filling", "capping", "printing", "packaging"]
PASSWORD = "line operator e2e"


class LineProcess(ServerProcess):
    module = "omis_line"


def label_png() -> bytes:
    image = Image.new("RGB", (64, 32), (250, 160, 20))
    image.putpixel((3, 5), (10, 20, 30))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_order_with_label_posted_at_pec_is_bottled_at_omis_and_its_status_revisions_reach_pec(
        partners: Exchange, tmp_path: Path) -> None:
    png = label_png()
    sha = hashlib.sha256(png).hexdigest()
    (tmp_path / "key").write_text(partners.omis.create_key("line") + "\n")
    (tmp_path / "password").write_text(PASSWORD + "\n")
    line = LineProcess(tmp_path / "line", env={"OMIS_LINE_STATION_SECONDS": "0.01,0.03",
                                               "OMIS_LINE_FAILURE_PROBABILITY": "0", "OMIS_LINE_SEED": "11"})
    line.data_dir.mkdir()
    init = line.cli("init", "--aadsys-url", partners.omis.url, "--api-key-file", str(tmp_path / "key"),
                    "--operator-password-file", str(tmp_path / "password"), "--partner", "pec")
    assert init.returncode == 0, init.stderr
    order = {"orderId": "SO-E2E-LINE", "orderDate": "2026-11-22T10:15:00Z",
             "customer": {"id": "C-77", "displayName": "Aina"}, "channel": "web", "currency": "MYR",
             "items": [{"product": "custom-juice", "bottleSizeMl": 500, "quantity": 2, "unitPrice": "12.90",
                        "ingredients": [{"ingredient": "orange", "ratio": 0.5}, {"ingredient": "carrot", "ratio": 0.3},
                                        {"ingredient": "ginger", "ratio": 0.2}],
                        "labelText": "Happy birthday", "labelImage": {"sha256": sha, "contentType": "image/png"}}],
             "total": "25.80", "requestedDate": "2026-11-25"}

    line.start()
    try:
        with partners.pec.api() as pec:
            uploaded = pec.post("/api/v1/files", content=png, headers={"Content-Type": "image/png",
                                                                      "X-Content-SHA256": sha})
            assert uploaded.status_code in (200, 201) and uploaded.json()["sha256"] == sha
            posted = pec.post("/api/v1/asset-types/sales-order/instances", json=order)
            assert posted.status_code == 201, posted.text

        with httpx.Client(base_url=line.url, auth=("operator", PASSWORD), trust_env=False, timeout=10) as client:
            def completed() -> dict[str, Any] | None:
                response = client.get("/api/orders/SO-E2E-LINE")
                return response.json() if response.status_code == 200 and \
                    response.json()["state"] == "completed" else None

            wait_for(completed, 60, what="the line to complete SO-E2E-LINE")

            def drained() -> dict[str, Any] | None:  # the last revision is posted after the order completes
                answer = client.get("/api/orders/SO-E2E-LINE").json()
                return dict(answer) if answer["statusRevisionsPending"] == 0 else None

            taken = wait_for(drained, 30, what="the status outbox to drain")
            assert taken is not None
            printed = client.get(f"/api/labels/{sha}").content
    finally:
        line.stop()

    with partners.omis.api() as omis:
        at_omis = omis.get(f"/api/v1/files/{sha}")
    assert at_omis.status_code == 200 and hashlib.sha256(at_omis.content).hexdigest() == sha
    production = taken["productionOrders"][0]
    assert production["labelImage"] == {"sha256": sha, "contentType": "image/png", "bytes": len(png),
                                        "verified": True}
    assert [b["printedSha256"] for b in production["bottles"]] == [sha, sha]
    assert printed == png
    assert production["bom"] == {"ingredients": [{"ingredient": "orange", "volumeMl": 500},
                                                 {"ingredient": "carrot", "volumeMl": 300},
                                                 {"ingredient": "ginger", "volumeMl": 200}],
                                 "bottles": 2, "caps": 2, "labels": 2}
    assert taken["statusRevisionsPosted"] == 9

    with partners.pec.api() as pec:
        def latest_completed() -> httpx.Response | None:
            response = pec.get("/api/v1/asset-types/sales-order-status/instances/SO-E2E-LINE",
                               params={"provider": "omis"})
            return response if response.status_code == 200 and response.json()["status"] == "completed" else None

        latest = wait_for(latest_completed, 60, what="the completed status to reach PEC")
        assert latest is not None
        revisions = [pec.get("/api/v1/asset-types/sales-order-status/instances/SO-E2E-LINE",
                             params={"provider": "omis", "revision": n}).json() for n in range(1, 10)]

    assert latest.headers["X-Revision"] == "9"
    assert [(r["status"], r.get("currentStation")) for r in revisions] == [
        ("received", None), ("scheduled", None), *[("in_production", s) for s in STATIONS], ("completed", None)]
    tags = {b["rfidTag"] for b in production["bottles"]}
    assert revisions[2]["rfidTag"] in tags
    final_trace = revisions[-1]["trace"]
    assert len(final_trace) == 12 and {t["result"] for t in final_trace} == {"ok"}
    assert [t["station"] for t in final_trace].count("printing") == 2

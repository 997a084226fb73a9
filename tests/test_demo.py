"""``make demo`` runs end to end: PEC's AAdSys through both APIs, then PEC and OMIS at the portal."""

from __future__ import annotations

from pathlib import Path

import pytest

from aadsys import demo
from tests.support.postgres import free_port


def test_demo_walks_through_gateway_and_portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    demo.main(interactive=False, port=free_port(), portal_port=free_port())
    out = capsys.readouterr().out
    assert "SO-1001 again" in out and "idempotent" in out
    assert "Instance https://pec.example/ids/aas/sales-order/SO-1003" in out
    assert "PEC's administrator approved it (personal access token): approved" in out
    assert "mode realtime, asset type sales-order" in out and "demo complete" in out

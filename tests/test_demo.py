"""``make demo`` runs end to end: the portal, PEC's and OMIS's AAdSys as processes, records crossing both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from aadsys import demo
from tests.support.postgres import free_port


def test_demo_exchanges_orders_and_status_between_pec_and_omis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    demo.main(interactive=False, port=free_port(), omis_port=free_port(), portal_port=free_port())
    out = capsys.readouterr().out
    assert "OMIS → PEC's Sales Orders, real time" in out and "approved by PEC's admin" in out
    assert out.count("✓") == 3 and "not sent twice" in out
    assert "3 orders, keys SO-1001, SO-1002, SO-1003" in out
    assert "PEC received revision 3: completed at packaging" in out
    assert "demo complete" in out

"""``make demo ARGS=--once`` runs the whole value chain and exits 0: shop → PEC → portal-brokered channel → OMIS →
line, and the status back to the shop. Run as the command itself, in a folder left over from an earlier run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import free_port
from valuechain.orders import SAMPLES


@pytest.mark.timeout(420)
def test_demo_once_takes_every_sample_order_there_and_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    (data_dir / "pec").mkdir(parents=True)
    (data_dir / "pec" / "aadsys.db").write_text("left over from an earlier run")  # a second run starts clean
    ports = [str(free_port()) for _ in range(5)]
    done = subprocess.run(
        [sys.executable, "-m", "valuechain", "--once", "--data-dir", str(data_dir), "--portal-port", ports[0],
         "--pec-port", ports[1], "--omis-port", ports[2], "--shop-port", ports[3], "--line-port", ports[4]],
        capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL, check=False)
    out = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\n{out[-6000:]}\n{done.stderr[-3000:]}"
    assert "approved by PEC's admin" in out and "approved by OMIS's admin" in out
    summary = out[out.index("5. Every order, there and back"):]
    rows = [line for line in summary.splitlines() if "SO-" in line]
    assert len(rows) == len(SAMPLES), summary
    assert all(row.count("completed") == 2 for row in rows), summary  # at OMIS's line, and back at PEC
    assert summary.count("sha256 ✓, printed") == sum(1 for s in SAMPLES if s.label_colour), summary
    assert "✗" not in out
    assert "value chain demo complete" in out

"""``make demo ARGS=--once`` runs the whole value chain and exits 0: shop → PEC → portal-brokered channel → OMIS →
line, and the status back to the shop. Run as the command itself, in a folder left over from an earlier run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aadsys.demo_processes import Organisation
from tests.support.postgres import free_port
from valuechain.orders import SAMPLES
from valuechain.scenario import Ports, build, examples, goodbye


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


def _processes_using(data_dir: Path) -> list[int]:
    """Pids whose command line names ``data_dir``: the chain's five servers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(data_dir) in cmdline and "valuechain" not in cmdline and not _zombie(entry):
                pids.append(int(entry.name))
    return pids


@pytest.mark.timeout(180)
def test_sigterm_stops_the_whole_chain_not_only_the_demo(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    ports = [free_port() for _ in range(5)]
    demo = subprocess.Popen(
        [sys.executable, "-m", "valuechain", "--serve", "--data-dir", str(data_dir),
         *(arg for flag, port in zip(("--portal-port", "--pec-port", "--omis-port", "--shop-port", "--line-port"),
                                      ports, strict=True) for arg in (flag, str(port)))],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _answers(ports[1]):  # PEC's AAdSys: the portal is up, the chain is half started
            assert demo.poll() is None and time.monotonic() < deadline, demo.stdout and demo.stdout.read()
            time.sleep(0.2)
        assert _processes_using(data_dir), "the chain's servers should be running by now"
        demo.terminate()
        out, _ = demo.communicate(timeout=60)
        assert demo.returncode == 0, out[-4000:]
        assert out.strip().splitlines()[-1].endswith("Goodbye."), out[-4000:]  # the last word, once all stopped
        give_up = time.monotonic() + 10  # a one-shot CLI the interrupt killed may take a moment to be gone
        while (left := _processes_using(data_dir)) and time.monotonic() < give_up:
            time.sleep(0.2)
        assert not left, f"SIGTERM to the demo left its servers running: {_commands(left)}"
        assert not any(_answers(port) for port in ports)
    finally:
        demo.kill()
        for pid in _processes_using(data_dir):
            os.kill(pid, signal.SIGKILL)


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _commands(pids: list[int]) -> dict[int, str]:
    return {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            for pid in pids if Path(f"/proc/{pid}").exists()}


def _zombie(proc: Path) -> bool:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_the_closing_summary_gives_the_readmes_examples_for_this_chain_with_data_dirs_and_credentials(
        tmp_path: Path) -> None:
    root = tmp_path / "demo-data"
    chain = build(root, Ports(8700, 8080, 8081, 8090, 8091))
    pec = Organisation("PEC", "o-1", "abmc_pec", "s3cr3t-not-shown", "admin@pec.example", "token")
    lines = examples(chain, {"PEC": pec, "OMIS": pec})
    commands = [line for line in lines if not line.startswith("#")]
    assert f".venv/bin/aadsys keys create --data-dir {root}/pec --name readme --scope read" in commands[0]
    assert f".venv/bin/aadsys connector status --data-dir {root}/omis" in commands
    assert f"CLIENT_ID=abmc_pec CLIENT_SECRET=$(cat {root}/pec/client-secret)" in commands
    assert any("http://127.0.0.1:8700/oauth/token" in line for line in commands)
    assert any(f"client id in {root}/pec/aadsys.toml, secret in {root}/pec/client-secret" in line for line in lines)
    assert "s3cr3t-not-shown" not in " ".join(lines)  # where the secret is, not the secret
    farewell = goodbye(root)
    assert farewell.endswith("Goodbye.") and str(root) in farewell

"""``make demo`` as the command itself: ``python -m valuechain`` in a folder left over from an earlier run starts
clean, and SIGTERM stops the whole chain, not only the demo.

The scenario the demo runs (bootstrap, the sample orders there and back, the summary) runs once on the value chain
of ``tests/e2e/test_value_chain.py``, in-process; this test runs the command line the way CI and a user do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import loopback_get
from tests.support.postgres import free_port
from tests.support.readme import runnable_examples
from valuechain.scenario import Ports, build, examples, goodbye, key_file


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
def test_a_second_run_starts_clean_and_sigterm_stops_the_whole_chain_not_only_the_demo(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    leftover = data_dir / "pec" / "aadsys.db"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("left over from an earlier run")
    ports = [free_port() for _ in range(5)]
    demo = subprocess.Popen(  # --once: what `make demo` runs without a terminal, as in CI
        [sys.executable, "-m", "valuechain", "--once", "--data-dir", str(data_dir),
         *(arg for flag, port in zip(("--portal-port", "--pec-port", "--omis-port", "--shop-port", "--line-port"),
                                      ports, strict=True) for arg in (flag, str(port)))],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _answers(ports[1]):  # PEC's AAdSys: the portal is up, the chain is half started
            assert demo.poll() is None and time.monotonic() < deadline, demo.stdout and demo.stdout.read()
            time.sleep(0.2)
        assert _processes_using(data_dir), "the chain's servers should be running by now"
        assert leftover.read_bytes()[:16] == b"SQLite format 3\x00", "the second run should start from a clean folder"
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
        return loopback_get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
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
    lines = examples(chain)
    commands = [line for line in lines if not line.startswith("#")]
    assert commands[0] == f"KEY=$(cat {root}/pec-api-key)" and key_file(chain.pec) == root / "pec-api-key"
    assert f".venv/bin/aadsys connector status --data-dir {root}/omis" in commands
    assert any(f"{root}/pec/aadsys.toml" in line for line in commands)
    assert any(f'"$CLIENT_ID:$(cat {root}/pec/client-secret)"' in line for line in commands)
    assert any("http://127.0.0.1:8700/oauth/token" in line for line in commands)

    # on the demo's defaults (`make demo`: these ports, data in demo-data/) they are the README's own lines
    readme = {line for example in runnable_examples() for line in example.text.splitlines()}
    defaults = [line.replace(str(root), "demo-data") for line in commands]
    assert [line for line in defaults if line not in readme] == [], "README.md and the demo's summary disagree"

    farewell = goodbye(root)
    assert farewell.endswith("Goodbye.") and str(root) in farewell


def test_the_summarys_examples_trust_the_runs_ca_under_tls(tmp_path: Path) -> None:
    chain = build(tmp_path / "demo-data", Ports(), tls=True)  # `aadsys certs` makes the CA in demo-data/tls
    ca = tmp_path / "demo-data" / "tls" / "ca.pem"
    commands = [line for line in examples(chain) if not line.startswith("#")]
    assert ca.is_file() and all(f"--cacert {ca}" in line for line in commands if "curl " in line)
    assert all(line.startswith(f"AADSYS_TLS_CA_FILE={ca} ") for line in commands if "aadsys " in line)

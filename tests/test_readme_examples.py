"""Every runnable example of README.md, run verbatim against a running demo chain.

The convention of README.md:
- A fenced block whose info string is exactly ``sh`` (```` ```sh ```` at the start of a line) is a runnable example.
  Every other fence is for reading only and never runs: ``console`` for commands that are not run against the demo
  (``make demo`` itself, its options, set-up and deployment), ``text`` for output, ``json`` for documents.
- A runnable block starts with a ``# …`` comment saying what it shows; that line names it here (with its line
  number) and is its key in ``EXPECTED``.
- It runs as a reader runs it: with bash under ``set -euo pipefail``, in a folder where ``.venv`` is this checkout's
  and ``demo-data`` the running demo's data folder, while the demo serves. Blocks run in the README's order, each in
  a shell of its own: a block sets its own variables from the files the demo writes (``KEY=$(cat
  demo-data/pec-api-key)``), and may use what an earlier block made (the Sales Order SO-1001).
- It names the demo's default addresses only (``valuechain.scenario.Ports``). The chain here runs on free ports, so
  ``ADDRESSES`` maps each default address to the process of this chain that answers instead; the mapping is applied
  to the block and to its expected output, and an address it does not know fails the block.
- It must exit 0, and its standard output must hold each text ``EXPECTED`` lists for it: what the example is for.

The chain is the session's ``value_chain`` (``tests/conftest.py``), which ``tests/e2e/test_value_chain.py`` uses too.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aadsys.processes import child_env
from tests.support.readme import README, Example, runnable_examples
from valuechain.scenario import Chain, Ports

pytestmark = pytest.mark.timeout(300)  # run alone, the first example pays for the chain's bootstrap
BLOCK_SECONDS = 60

# The demo's default address of each process → the attribute of valuechain.scenario.Chain that answers here.
ADDRESSES = {
    "http://127.0.0.1:8700": "portal",
    "http://127.0.0.1:8080": "pec",
    "http://127.0.0.1:8081": "omis",
    "http://127.0.0.1:8090": "shop",
    "http://127.0.0.1:8091": "line",
}
LOOPBACK_ADDRESS = re.compile(r"(?:https?://)?(?:127\.0\.0\.1|localhost):\d+")

# What each runnable block's standard output must hold, by its first line (ADDRESSES applies here too).
EXPECTED: dict[str, tuple[str, ...]] = {
    "# Create the Sales Order SO-1001 at PEC's AAdSys (again: 200, the same record)":
        ('"key": "SO-1001"', '"assetType": "sales-order"'),
    "# Read SO-1001 back: as business JSON, then as AAS JSON (one shell, one submodel)":
        ('"orderId": "SO-1001"', '"https://pec.example/ids/aas/sales-order/SO-1001"',
         '"https://pec.example/ids/sm/sales-order/SO-1001/SalesOrder"'),
    "# PEC's AAdSys, with the write key the demo made for you: the Sales Orders, then their shells":
        ('"key": "SO-', '"https://pec.example/ids/aas/'),
    "# A Sales Order whose ratios add up to 110 % is refused: 422, application/problem+json":
        ('"status": 422', "ingredient ratios sum to 1.1; they must sum to 1"),
    "# Wait until OMIS's last status of SO-1001 is back at PEC, then show it":
        ('"status": "completed"', '"packaging"'),
    "# SO-1001 at OMIS's AAdSys, received from PEC over the connector channel, and on OMIS's line":
        ('"orderId": "SO-1001"', '"total": "25.80"', '"state": "completed"', '"bottles": 2'),
    "# PEC's event stream of Sales Order Status from the start (after=0), for 3 seconds":
        ("event: instance", '"key": "SO-1001"', '"provider": "omis"'),
    "# SO-1001 as AAS: its shell, its submodel's values, one element of it by idShortPath":
        ('"globalAssetId": "urn:pec:sales-order:SO-1001"', '"labelText": "Happy birthday"',
         '[{"ingredient":"orange","ratio":0.6},{"ingredient":"carrot","ratio":0.4}]'),
    "# Registry and discovery: the profiles served, the shells that carry orderId SO-1001, the descriptor of the "
    "order's shell":
        ("DiscoveryServiceSpecification/SSP-001", '"https://pec.example/ids/aas/sales-order/SO-1001"',
         '"https://omis.example/ids/aas/sales-order-status/SO-1001"', '"http://127.0.0.1:8080/api/v3.0/shells/'),
    "# SO-1001 as an AASX package: one JSON part, and a part for each stored file its File elements name":
        ("aasx/data.json",),
    "# The portal's REST API as PEC's connector: the catalog, then PEC's subscriptions as provider":
        ('"orgName": "PEC"', '"assetType": "sales-order-status"', '"consumerName": "OMIS"', '"state": "active"',
         '"reconciled": true'),
    "# OMIS's connector: its subscriptions at the portal, its channels, its historical transfers":
        ("reachable", "sales-order-status", "realtime", "active", "transfers"),
    "# What OMIS could subscribe to, PEC's API keys, and PEC's Sales Orders of yesterday and today as one AASX file":
        ("Sales Order Status", "erp", "sales-order record(s) to sales-orders.aasx"),
}

EXAMPLES = runnable_examples()


def on_chain(text: str, chain: Chain) -> str:
    """``text`` with each of the demo's default addresses replaced by the address of this chain's process."""
    for default, process in ADDRESSES.items():
        text = text.replace(default, getattr(chain, process).url)
    return text


@pytest.fixture(scope="module")
def checkout(value_chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder that looks like the checkout while the demo runs: ``.venv`` is ours, ``demo-data`` the chain's.
    Whatever the examples write (an AASX file) stays in it."""
    folder = tmp_path_factory.mktemp("checkout")
    (folder / ".venv").symlink_to(README.parent / ".venv", target_is_directory=True)
    (folder / "demo-data").symlink_to(value_chain.portal.data_dir.parent, target_is_directory=True)
    yield folder


def test_the_readme_has_runnable_examples_each_named_and_expected_and_on_the_demos_addresses() -> None:
    assert {f"http://127.0.0.1:{port}": name for name, port in vars(Ports()).items()} == ADDRESSES
    assert len(EXAMPLES) >= 10, [str(example) for example in EXAMPLES]
    titles = [example.title for example in EXAMPLES]
    assert [str(e) for e in EXAMPLES if not e.title.startswith("# ")] == [], "a block's first line says what it shows"
    assert sorted({t for t in titles if titles.count(t) > 1}) == [], "each block's first line is its own"
    assert [str(e) for e in EXAMPLES if e.title not in EXPECTED] == [], "what should these blocks print? (EXPECTED)"
    assert sorted(set(EXPECTED) - set(titles)) == [], "EXPECTED names blocks README.md no longer has"
    unknown = {str(e): found for e in EXAMPLES
               if (found := sorted(set(LOOPBACK_ADDRESS.findall(e.text)) - set(ADDRESSES)))}
    assert unknown == {}, "examples name the demo's default addresses only (ADDRESSES)"


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{example.line}" for example in EXAMPLES])
def test_a_readme_example_runs_against_the_demo_chain(example: Example, value_chain: Chain, checkout: Path) -> None:
    try:
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + on_chain(example.text, value_chain)],
                              cwd=checkout, env=child_env(), capture_output=True, text=True, timeout=BLOCK_SECONDS,
                              check=False)
    except subprocess.TimeoutExpired as late:
        pytest.fail(f"{example} did not finish within {BLOCK_SECONDS} s\n--- stderr ---\n{_text(late.stderr)}"
                    f"\n--- stdout ---\n{_text(late.stdout)}")
    said = f"\n--- stderr ---\n{done.stderr[-3000:]}\n--- stdout ---\n{done.stdout[-3000:]}"
    assert done.returncode == 0, f"{example} exited {done.returncode}{said}"
    missing = [text for text in EXPECTED.get(example.title, ()) if on_chain(text, value_chain) not in done.stdout]
    assert missing == [], f"{example} printed none of {missing}{said}"


def _text(output: bytes | str | None) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else output or ""
    return text[-3000:]

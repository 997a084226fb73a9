"""The layers hold by themselves: import-linter checks the contracts in pyproject.toml ([tool.importlinter])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_import_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"{lint_imports} is missing: import-linter is a dev dependency (make install)"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 6 kept, 0 broken." in done.stdout, done.stdout  # none skipped or lost from the config


def test_no_layer_below_the_gateway_knows_its_urls() -> None:
    """aas_models and the core speak of files by digest; only the gateway knows where it serves them."""
    below = [*sorted((ROOT / "aas_models").rglob("*.py")), *sorted((ROOT / "aadsys" / "core").rglob("*.py"))]
    assert len(below) > 20
    naming = [f"{path.relative_to(ROOT)}:{n}" for path in below
              for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if "/api/" in line]
    assert naming == [], f"these lines name a gateway URL below the gateway: {naming}"

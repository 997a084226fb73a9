"""The wheel holds what a deployment runs, and an AAdSys and a portal installed from it can migrate (issue 11).

Built with the pinned uv, as `uv build --wheel` would; then unpacked and run from a directory outside the checkout,
so every import and every migration comes from the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"
SHIPPED = ("aas_models", "aadsys", "connector", "abm_portal")
NOT_SHIPPED = ("pec_shop/", "omis_line/", "valuechain/", "tests/", "bench/", "migrations/")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not UV.exists():
        raise AssertionError(f"the pinned uv is missing at {UV}: run `make install` (make test does)")
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([str(UV), "build", "--wheel", "--out-dir", str(out), str(ROOT)], capture_output=True,
                           text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert built.returncode == 0, built.stderr[-3000:]
    (found,) = out.glob("aadsys-*.whl")
    return found


def test_the_wheel_holds_the_deployable_packages_and_their_migrations(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for package in SHIPPED:
        assert f"{package}/__init__.py" in names, package
    for package, source in (("aadsys", ROOT / "aadsys" / "migrations"),
                            ("abm_portal", ROOT / "abm_portal" / "migrations")):
        expected = {f"{package}/migrations/{p.relative_to(source).as_posix()}" for p in source.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts}
        assert expected and expected <= set(names), sorted(expected - set(names))
        assert any(name.startswith(f"{package}/migrations/versions/0001_") for name in names)
    assert not [n for n in names if n.startswith(NOT_SHIPPED) or "__pycache__" in n]


@pytest.mark.parametrize("module", ["aadsys", "abm_portal"])
def test_an_installed_wheel_initialises_and_migrates_a_database(wheel: Path, tmp_path: Path, module: str) -> None:
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    data_dir = tmp_path / "data"
    args = ["init", "--data-dir", str(data_dir)]
    if module == "aadsys":
        args += ["--org", "pec", "--base-iri", "https://pec.example"]
    # The wheel's packages come first on the path; the dependencies come from this venv.
    env = {**os.environ, "PYTHONPATH": str(installed), "PYTHONSAFEPATH": "1"}
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    where = subprocess.run([sys.executable, "-c", f"import {module}; print({module}.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(installed)), where.stdout + where.stderr
    assert list(data_dir.glob("*.db")), sorted(p.name for p in data_dir.iterdir())

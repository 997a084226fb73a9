"""The wheel holds what a deployment runs, and an AAdSys (with and without its connector extension) and a portal
installed from it initialise, migrate and serve.

Built with the pinned uv, as `uv build --wheel` would; then unpacked and run from a directory outside the checkout,
so every import and every migration comes from the wheel.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aadsys.processes import AadsysProcess

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"
SHIPPED = ("aas_models", "aadsys", "connector", "abm_portal")
NOT_SHIPPED = ("pec_shop/", "omis_line/", "valuechain/", "tests/", "bench/", "migrations/")
CONNECTOR_TABLES = {"outbox", "subscriptions", "history_jobs", "links"}


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
                            ("connector", ROOT / "connector" / "migrations"),
                            ("abm_portal", ROOT / "abm_portal" / "migrations")):
        expected = {f"{package}/migrations/{p.relative_to(source).as_posix()}" for p in source.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts}
        assert expected and expected <= set(names), sorted(expected - set(names))
        assert any(name.startswith(f"{package}/migrations/versions/0001_") for name in names)
    assert "aadsys/benchmark/connectivity.py" in names and "aadsys/processes.py" in names  # `aadsys bench` runs them
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


@pytest.mark.parametrize("connector", ["with the connector", "without the connector"])
def test_an_aadsys_installed_from_the_wheel_migrates_and_serves(wheel: Path, tmp_path: Path, connector: str) -> None:
    """Without the connector extension (its package and entry point gone), the core still migrates its own tables
    and serves; with it, the connector's branch adds its tables."""
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    if connector == "without the connector":
        shutil.rmtree(installed / "connector")
        (entry_points,) = installed.glob("aadsys-*.dist-info/entry_points.txt")
        entry_points.write_text(entry_points.read_text().split("[aadsys.extensions]")[0])
    member = AadsysProcess(tmp_path / "data", org="pec", base_iri="https://pec.example",
                           env={"PYTHONPATH": str(installed), "PYTHONSAFEPATH": "1"})
    try:
        member.init()
        member.create_key()
        member.start()
        with member.api() as api:
            assert api.get("/api/v1/asset-types").status_code == 200
    finally:
        member.stop()
    with sqlite3.connect(member.data_dir / "aadsys.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "instances" in tables
    assert (tables >= CONNECTOR_TABLES) == (connector == "with the connector"), sorted(tables)

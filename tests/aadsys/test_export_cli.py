"""``aadsys export``: one asset type's records in a date range as an AASX package, or a clear error and no file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from basyx.aas import model
from sqlalchemy import update
from sqlmodel import col
from typer.testing import CliRunner

from aadsys.cli import app
from aadsys.config import Settings, write_config_file
from aadsys.core.tables import InstanceRow
from tests.aadsys.aasx_support import read_package, store_order_with_label
from tests.aadsys.conftest import Gateway

runner = CliRunner()
TODAY = datetime.now(UTC).date().isoformat()  # only where the command refuses before it reads a record


def _days_around_now() -> tuple[str, str]:
    """A range that holds a record stored now even when the suite runs across midnight (UTC)."""
    now = datetime.now(UTC)
    return (now - timedelta(days=1)).date().isoformat(), (now + timedelta(days=1)).date().isoformat()


def _out_dir(tmp_path: Path) -> Path:
    """Apart from the data dir and the SQLite file, so that what the export leaves there is all there is."""
    out = tmp_path / "out"
    out.mkdir()
    return out


def _export(settings: Settings, *args: str) -> tuple[int, str]:
    write_config_file(settings)  # what `aadsys init` leaves: later commands need only --data-dir
    r = runner.invoke(app, ["export", "--data-dir", str(settings.data_dir), *args])
    return r.exit_code, r.output


def test_export_writes_a_package_that_passes_the_file_checks(api: httpx.Client, settings: Settings,
                                                             tmp_path: Path) -> None:
    stored = store_order_with_label(api)
    store_order_with_label(api, "SO-IMG-2")
    out = _out_dir(tmp_path) / "orders.aasx"
    since, until = _days_around_now()
    code, output = _export(settings, "--type", "sales-order", "--from", since, "--to", until, "--out", str(out))
    assert code == 0, output
    assert "wrote 2 sales-order record(s)" in output
    package = read_package(out.read_bytes())
    order_shells = {i for i in stored.shell_ids if "/sales-order/" in i}
    assert order_shells < package.ids(model.AssetAdministrationShell)
    assert len(package.ids(model.AssetAdministrationShell)) == len(package.ids(model.Submodel)) == 2
    assert all("status" not in i for i in package.ids(model.Submodel))
    values = package.file_values()
    assert len(values) == 2 and [package.file_bytes(v) == stored.png for v in values].count(True) == 1
    assert [p.name for p in out.parent.iterdir()] == ["orders.aasx"]  # and no temporary file


def test_a_range_that_ends_before_the_records_exports_nothing_and_says_so(api: httpx.Client, settings: Settings,
                                                                           tmp_path: Path) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()  # taken before the record is
    store_order_with_label(api)
    out = _out_dir(tmp_path) / "none.aasx"
    code, output = _export(settings, "--type", "sales-order", "--from", "2020-01-01", "--to", yesterday,
                           "--out", str(out))
    assert code == 2 and "no sales-order records" in output and not out.exists()


def test_unknown_type_bad_dates_and_unwritable_paths_are_refused_before_any_file(gateway: Gateway,
                                                                                  settings: Settings,
                                                                                  tmp_path: Path) -> None:
    out_dir = _out_dir(tmp_path)
    out = out_dir / "x.aasx"
    cases = [
        (["--type", "pallet", "--from", TODAY, "--to", TODAY, "--out", str(out)], "not held here"),
        (["--type", "sales-order", "--from", "22/11/2026", "--to", TODAY, "--out", str(out)], "ISO 8601"),
        (["--type", "sales-order", "--from", TODAY, "--to", "2020-01-01", "--out", str(out)], "before --from"),
        (["--type", "sales-order", "--from", TODAY, "--to", TODAY, "--out", str(out_dir / "no" / "x.aasx")],
         "does not exist"),
        (["--type", "sales-order", "--from", TODAY, "--to", TODAY, "--out", str(out_dir)], "is a directory"),
    ]
    for args, words in cases:
        code, output = _export(settings, *args)
        assert code == 2 and words in " ".join(output.split()), (args, output)
    assert list(out_dir.iterdir()) == []


def test_a_record_basyx_refuses_leaves_neither_a_package_nor_a_temporary_file(api: httpx.Client, gateway: Gateway,
                                                                               settings: Settings,
                                                                               tmp_path: Path) -> None:
    store_order_with_label(api)
    broken = b'{"assetAdministrationShells": [{"modelType": "AssetAdministrationShell", "id": "urn:x"}]}'
    with gateway.ctx.db.write_session() as session:  # a shell without assetInformation is not AAS v3.0
        session.execute(update(InstanceRow).where(col(InstanceRow.asset_type) == "sales-order").values(aas_json=broken))
        session.commit()
    out = _out_dir(tmp_path) / "broken.aasx"
    since, until = _days_around_now()
    code, output = _export(settings, "--type", "sales-order", "--from", since, "--to", until, "--out", str(out))
    assert code == 2 and "not valid AAS" in output
    assert list(out.parent.iterdir()) == []

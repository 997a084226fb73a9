"""Plain ``http://`` is accepted only on loopback (DESIGN §10, issue 24): a ``portal_url`` or ``public_url`` of the
AAdSys, the portal's ``public_url`` and the shop's and the line's ``aadsys_url`` to another machine are refused
when the settings load, that is before anything starts, with a message that says how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import aadsys.config
import abm_portal.config
import omis_line.config
import pec_shop.config
from aadsys.cli import app as aadsys_cli

Loader = Callable[..., Any]
LOADERS: dict[str, tuple[Loader, str]] = {
    "aadsys portal_url": (aadsys.config.load_settings, "portal_url"),
    "aadsys public_url": (aadsys.config.load_settings, "public_url"),
    "portal public_url": (abm_portal.config.load_settings, "public_url"),
    "shop aadsys_url": (pec_shop.config.load_settings, "aadsys_url"),
    "line aadsys_url": (omis_line.config.load_settings, "aadsys_url"),
}


@pytest.mark.parametrize("case", LOADERS)
def test_plain_http_to_another_machine_is_refused_with_how_to_fix_it(case: str, tmp_path: Path) -> None:
    load, setting = LOADERS[case]

    with pytest.raises(ValueError) as refused:
        load(data_dir=tmp_path, **{setting: "http://pec.example:8080"})

    message = str(refused.value)
    assert f"{setting} http://pec.example:8080 is plain http:// to another machine" in message, message
    assert "http:// is accepted only for 127.0.0.1, [::1] and localhost" in message, message
    assert ("use https://" in message) and ("--tls-cert/--tls-key" in message), message


@pytest.mark.parametrize("case", LOADERS)
@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080",
                                 "https://pec.example"])
def test_loopback_http_and_any_https_stay_allowed(case: str, url: str, tmp_path: Path) -> None:
    load, setting = LOADERS[case]

    assert getattr(load(data_dir=tmp_path, **{setting: url}), setting) == url


def test_an_aadsys_listening_beyond_loopback_without_tls_may_not_advertise_its_plain_address(tmp_path: Path) -> None:
    """A connector tells partners its public_url; unset, it is made of host and port, in clear without TLS."""
    with pytest.raises(ValueError, match=r"public_url \(by default from host and port\) http://0.0.0.0:8080 is "
                                         r"plain http:// to another machine"):
        aadsys.config.load_settings(data_dir=tmp_path, host="0.0.0.0", portal_url="https://portal.example")


def test_aadsys_init_refuses_a_plain_portal_url_with_exit_2_and_the_fix(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")

    done = CliRunner().invoke(aadsys_cli, ["init", "--data-dir", str(tmp_path / "pec"), "--org", "pec",
                                           "--base-iri", "https://pec.example", "--portal-url",
                                           "http://portal.example", "--client-id", "pec",
                                           "--client-secret-file", str(secret)])

    said = " ".join(done.output.split())  # as one line: the console wraps it
    assert done.exit_code == 2
    assert "invalid settings: portal_url http://portal.example is plain http:// to another machine" in said
    assert "use https:// (serve it with --tls-cert/--tls-key, or behind a TLS proxy" in said
    assert not (tmp_path / "pec" / "aadsys.toml").exists()

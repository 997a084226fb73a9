"""``aadsys certs`` makes a development CA and server certificates it signs; ``aadsys serve`` checks its TLS files
before it starts (issue 24). What the certificates do on a real listener: tests/connector/test_tls*.py."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from aadsys.cli import app

runner = CliRunner()


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _line(output: str) -> str:
    """What a command printed, as one line: the console wraps long messages."""
    return " ".join(output.split())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_certs_makes_a_ca_that_signs_a_server_certificate_for_the_names_asked_with_private_keys(tmp_path: Path
                                                                                               ) -> None:
    out = tmp_path / "certs"
    done = runner.invoke(app, ["certs", "--out", str(out), "--host", "pec.example", "--host", "127.0.0.1",
                               "--name", "pec"])

    assert done.exit_code == 0, done.output
    ca, pec = _certificate(out / "ca.pem"), _certificate(out / "pec.pem")
    pec.verify_directly_issued_by(ca)  # raises unless the CA's key signed it
    names = pec.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["pec.example"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not pec.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert pec.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    key = serialization.load_pem_private_key((out / "pec-key.pem").read_bytes(), password=None)
    assert key.public_key() == pec.public_key()
    assert 390 <= (pec.not_valid_after_utc - pec.not_valid_before_utc).days <= 398
    assert (_mode(out / "ca-key.pem"), _mode(out / "pec-key.pem")) == (0o600, 0o600)
    assert "made the development CA" in done.output and "--tls-cert" in done.output
    assert "AADSYS_TLS_CA_FILE" in done.output and done.output.strip().splitlines()[-1] == str(out / "pec.pem")


def test_certs_reuses_the_ca_it_finds_in_the_directory(tmp_path: Path) -> None:
    runner.invoke(app, ["certs", "--out", str(tmp_path), "--host", "pec.example", "--name", "pec"])
    ca_before = (tmp_path / "ca.pem").read_bytes()

    done = runner.invoke(app, ["certs", "--out", str(tmp_path), "--host", "omis.example", "--host", "::1"])

    assert done.exit_code == 0, done.output
    assert "reused the development CA" in done.output
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    _certificate(tmp_path / "omis.example.pem").verify_directly_issued_by(_certificate(tmp_path / "ca.pem"))


def test_certs_refuses_a_host_that_is_neither_a_name_nor_an_address(tmp_path: Path) -> None:
    done = runner.invoke(app, ["certs", "--out", str(tmp_path), "--host", "pec example"])

    assert done.exit_code == 2
    assert "'pec example' is neither an IP address nor a host name" in done.output


def test_serve_refuses_a_certificate_without_its_key_and_a_key_of_another_certificate(tmp_path: Path) -> None:
    runner.invoke(app, ["certs", "--out", str(tmp_path), "--host", "127.0.0.1", "--name", "pec"])
    data = ["--data-dir", str(tmp_path / "data")]

    alone = runner.invoke(app, ["serve", *data, "--tls-cert", str(tmp_path / "pec.pem")])
    mismatched = runner.invoke(app, ["serve", *data, "--tls-cert", str(tmp_path / "pec.pem"),
                                     "--tls-key", str(tmp_path / "ca-key.pem")])

    assert alone.exit_code == 2
    assert "tls_cert and tls_key go together: give both (--tls-cert and --tls-key) or neither" in _line(alone.output)
    assert mismatched.exit_code == 2
    assert "are not a PEM certificate (chain) and its private key (KEY_VALUES_MISMATCH)" in _line(mismatched.output)

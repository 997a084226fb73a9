"""Development certificates for a TLS pilot (``aadsys certs``): a CA of one's own, and server certificates it
signs for given host names and IP addresses.

A real deployment may use any certificate chain in PEM with its key instead (a public CA's, or a company's
own); clients then need ``tls_ca_file`` only for a private CA. Keys are ECDSA P-256, written unencrypted with
mode 0600 from the first byte. The server certificate follows RFC 5280 as TLS clients check it: the names are in
subjectAltName (RFC 6125 §6.4.4: clients ignore the CN when a SAN is there), extendedKeyUsage is serverAuth,
and the authority and subject key identifiers link it to the CA (what strict X.509 checking asks for).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_DAYS = 5 * 365
SERVER_DAYS = 397  # within the 398 days browsers accept for a server certificate
CLOCK_LEEWAY = timedelta(minutes=5)  # a certificate made now is valid on a peer whose clock is a little behind
_DNS_NAME = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                       r"[A-Za-z0-9])?)*$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

SubjectName = x509.DNSName | x509.IPAddress


class CertificateError(ValueError):
    """What was asked cannot be made: a bad host name, a half CA in the directory, an unreadable file."""


@dataclass(frozen=True)
class Authority:
    """The development CA: its certificate and key files, and whether this run made them."""

    cert_file: Path
    key_file: Path
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    made: bool


@dataclass(frozen=True)
class ServerCertificate:
    cert_file: Path
    key_file: Path
    hosts: tuple[str, ...]
    not_after: datetime


def subject_name(host: str) -> SubjectName:
    """A subjectAltName entry: an IP address (v4 or v6, without brackets) or a DNS name (a leading ``*.`` allowed)."""
    text = host.strip().removeprefix("[").removesuffix("]")
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not _DNS_NAME.match(text) or len(text) > 253:
        raise CertificateError(f"'{host}' is neither an IP address nor a host name such as pec.example")
    return x509.DNSName(text.lower())


def file_name_for(host: str) -> str:
    """The certificate's file name when none is given: the host, in letters, digits, '.' and '-'."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", host.replace("*", "wildcard")).strip("-.") or "server"


def load_or_make_ca(out: Path, *, now: datetime | None = None) -> Authority:
    """The CA in ``out`` (``ca.pem`` and ``ca-key.pem``), made there when neither file exists."""
    cert_file, key_file = out / CA_CERT_FILE, out / CA_KEY_FILE
    if cert_file.exists() and key_file.exists():
        try:
            certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise CertificateError(f"cannot read the CA in {out} ({exc}); remove {CA_CERT_FILE} and {CA_KEY_FILE} "
                                   "to make a new one (and hand the new ca.pem to every client)") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
            raise CertificateError(f"{key_file} is not the key of {cert_file}")
        return Authority(cert_file, key_file, certificate, key, made=False)
    if cert_file.exists() or key_file.exists():
        present = cert_file if cert_file.exists() else key_file
        raise CertificateError(f"{out} holds {present.name} without its pair; restore the other file, or remove it "
                               "to make a new CA")
    start = (now or datetime.now(UTC)) - CLOCK_LEEWAY
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AAdSys pilot"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"AAdSys development CA {start:%Y-%m-%d %H:%M}")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256()))
    out.mkdir(parents=True, exist_ok=True)
    _write_private(key_file, key)
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Authority(cert_file, key_file, certificate, key, made=True)


def issue(ca: Authority, out: Path, name: str, hosts: list[str], *, days: int = SERVER_DAYS,
          now: datetime | None = None) -> ServerCertificate:
    """``<name>.pem`` and ``<name>-key.pem`` in ``out``: a certificate the CA signs for ``hosts``, valid from
    ``now`` (less a few minutes of clock leeway) for ``days``."""
    if not hosts:
        raise CertificateError("give at least one --host: a name or an IP address the server is reached by")
    names = list(dict.fromkeys(subject_name(host) for host in hosts))
    if not _FILE_NAME.match(name):
        raise CertificateError(f"--name '{name}' must be a file name of letters, digits, '.', '_' and '-'")
    start = (now or datetime.now(UTC)) - CLOCK_LEEWAY
    key = ec.generate_private_key(ec.SECP256R1())
    common = str(names[0].value)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common[:64])]))
        .issuer_name(ca.certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256()))
    out.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = out / f"{name}.pem", out / f"{name}-key.pem"
    _write_private(key_file, key)
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return ServerCertificate(cert_file, key_file, tuple(str(n.value) for n in names),
                             certificate.not_valid_after_utc)


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """The key in PKCS #8 PEM, readable by its owner only from the first byte (an older file is replaced)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))

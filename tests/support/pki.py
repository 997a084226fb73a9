"""Certificates for TLS tests, made by the code of ``aadsys certs`` (``aadsys.certs``) in a temporary directory."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aadsys.certs import Authority, ServerCertificate, issue, load_or_make_ca
from aadsys.tls import client_context

LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]


class Pki:
    """Development CAs by name, each in its own directory below ``root``, and server certificates they sign."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ca(self, name: str = "ca") -> Authority:
        return load_or_make_ca(self.root / name)

    def server(self, name: str, hosts: list[str] | None = None, *, ca: str = "ca", expired: bool = False
               ) -> ServerCertificate:
        """A certificate ``ca`` signs for ``hosts`` (default: loopback by address and name); ``expired``: one whose
        single day of validity ended a week ago."""
        now = datetime.now(UTC) - timedelta(days=8) if expired else None
        return issue(self.ca(ca), self.root / ca, name, hosts or LOOPBACK_HOSTS, days=1 if expired else 30, now=now)

    def trusting(self, *cas: str) -> Path:
        """One PEM bundle of the named CAs' certificates, as ``tls_ca_file`` takes it."""
        bundle = self.root / f"trust-{'-'.join(cas)}.pem"
        bundle.write_bytes(b"".join(self.ca(name).cert_file.read_bytes() for name in cas))
        return bundle

    def context(self, *cas: str) -> ssl.SSLContext:
        """What a client that trusts the named CAs verifies with (the product's own ``client_context``)."""
        return client_context(self.trusting(*cas))

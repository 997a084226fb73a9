"""TLS of the line (DESIGN §10): its listener serves TLS with ``serve --tls-cert/--tls-key``; its client of the
company's AAdSys verifies the certificate, against the system's trust store or ``tls_ca_file`` (no switch turns
that off); and plain ``http://`` to the AAdSys is accepted only on loopback. The line imports nothing of ours,
as a company's own system would not, so these few lines mirror ``aadsys.tls``.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """What the AAdSys client verifies with: the CAs of ``ca_file`` when given (a private CA), else the system's."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"tls_ca_file {ca_file} is not a readable PEM file of CA certificates "
                         f"({getattr(exc, 'reason', None) or exc.strerror or exc})") from None


def plain_http_problem(url: str, setting: str) -> str | None:
    """Why ``url`` may not be used, when it is plain ``http://`` to another machine; ``None`` when it may."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not url.startswith("http://") or loopback:
        return None
    return (f"{setting} {url} is plain http:// to another machine, so the API key and records would cross the "
            "network in clear: use https:// (the AAdSys serves it with --tls-cert/--tls-key, or behind a TLS "
            "proxy); http:// is accepted only for 127.0.0.1, [::1] and localhost")


def server_files_problem(cert: Path, key: Path) -> str | None:
    """Why ``cert`` and ``key`` cannot serve TLS (missing, unreadable, not PEM, not a pair); ``None`` when they can."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        return (f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate (chain) and its private key "
                f"({exc.reason or exc})")
    except OSError as exc:
        return f"cannot read {exc.filename or cert}: {exc.strerror or exc}"
    return None

"""TLS of the portal's listener (DESIGN §10): ``serve --tls-cert/--tls-key``, and plain ``http://`` accepted as the
public URL only on loopback. (The portal calls no other server, so it has no client to verify with; the portal
imports nothing of ``aadsys``, so these few lines mirror ``aadsys.tls``.)
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit


def plain_http_problem(url: str, setting: str) -> str | None:
    """Why ``url`` may not be used, when it is plain ``http://`` to another machine; ``None`` when it may."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not url.startswith("http://") or loopback:
        return None
    return (f"{setting} {url} is plain http:// to another machine, so passwords, client secrets and tokens would "
            "cross the network in clear: use https:// (serve it with --tls-cert/--tls-key, or behind a TLS proxy; "
            "`aadsys certs` makes certificates for a pilot); http:// is accepted only for 127.0.0.1, [::1] and "
            "localhost")


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

"""TLS for the AAdSys and its connector (DESIGN §10): listeners serve TLS with ``tls_cert``/``tls_key``; every
client verifies the server's certificate, against the system's trust store or the CAs of ``tls_ca_file``, and
there is no switch that turns that off; plain ``http://`` is accepted on loopback only.

``client_context`` is the one way clients get their verification; ``plain_http_problem`` the one rule for URLs;
``describe_failure`` puts a failed call into words that name the cause and say what to fix.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost"})
E = TypeVar("E", bound=BaseException)


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """What every client of this package verifies servers with: hostname and chain checked (TLS 1.2 at least),
    against the CAs in ``ca_file`` when given (a private CA, such as ``aadsys certs`` makes), else the system's
    trust store. A ``ca_file`` that cannot be read is a ``ValueError`` naming it.

    One context per trust, shared: reading a trust store costs some 60 ms of CPU, and a client made per call (a
    readiness poll, a CLI's portal call) paid it each time. A ``ca_file`` that changes on disk is read again."""
    if ca_file is None:
        return _read_context(None)
    try:
        found = os.stat(ca_file)
    except OSError:
        return _read_context.__wrapped__((str(ca_file), -1, -1))  # raises the ValueError that names it
    return _read_context((str(ca_file), found.st_mtime_ns, found.st_size))


@functools.lru_cache(maxsize=32)
def _read_context(version: tuple[str, int, int] | None) -> ssl.SSLContext:
    ca_file = None if version is None else version[0]
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:  # ssl.SSLError is an OSError with a reason
        raise ValueError(f"tls_ca_file {ca_file} is not a readable PEM file of CA certificates "
                         f"({getattr(exc, 'reason', None) or exc.strerror or exc})") from None


def is_loopback(url: str) -> bool:
    """The URL's host is this machine: ``localhost``, 127.0.0.0/8 or ``[::1]``."""
    host = urlsplit(url).hostname
    if host is None:
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_problem(url: str, setting: str) -> str | None:
    """Why ``url`` may not be used, when it is plain ``http://`` to another machine; ``None`` when it may."""
    if not url.startswith("http://") or is_loopback(url):
        return None
    return (f"{setting} {url} is plain http:// to another machine, so secrets, tokens and records would cross the "
            "network in clear: use https:// (serve it with --tls-cert/--tls-key, or behind a TLS proxy; "
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


# What fixes each refusal, by OpenSSL's verify code (X509_V_ERR_*)
_UNTRUSTED = ("it is not signed by a CA this side trusts: set tls_ca_file to the certificate of the CA that signed "
              "it (a private CA, such as `aadsys certs` makes), or give the server a certificate of a CA in the "
              "system's trust store")
_EXPIRED = "renew the server's certificate (or, if it is new, check both machines' clocks)"
_WRONG_NAME = ("the certificate does not name the host of the URL: use a URL whose host the certificate names, or "
               "give the server a certificate for this host (`aadsys certs --host …`)")
_FIXES = {2: _UNTRUSTED, 18: _UNTRUSTED, 19: _UNTRUSTED, 20: _UNTRUSTED, 21: _UNTRUSTED,
          9: _EXPIRED, 10: _EXPIRED, 62: _WRONG_NAME, 64: _WRONG_NAME}


def describe_failure(exc: BaseException, url: str) -> str:
    """A failed call to ``url`` in words: a refused certificate names the check that refused it and what fixes it;
    a TLS listener that closed on plain ``http://`` says to use https://; anything else is the error itself."""
    where = urlsplit(url).netloc or url
    refused = _cause(exc, ssl.SSLCertVerificationError)
    if refused is not None:
        reason = (refused.verify_message or refused.reason or str(refused)).rstrip(".")
        fix = _FIXES.get(refused.verify_code)
        return f"TLS: the certificate of {where} is refused: {reason}" + (f"; {fix}" if fix else "")
    handshake = _cause(exc, ssl.SSLError)
    if handshake is not None:
        reason = handshake.reason or str(handshake)
        hint = " (it answers in plain HTTP: serve it with --tls-cert/--tls-key, or behind a TLS proxy)" \
            if reason == "WRONG_VERSION_NUMBER" else ""
        return f"TLS: the handshake with {where} failed: {reason}{hint}"
    # Imported here, not at the top: the settings import this module, and a CLI command should start fast.
    import aiohttp  # the websocket client of python-socketio
    import httpx

    unanswered = (httpx.RemoteProtocolError, aiohttp.ServerDisconnectedError)
    if url.startswith("http://") and _cause(exc, unanswered) is not None:  # type: ignore[arg-type]
        return (f"{where} closed the connection without an answer to plain http://, as a TLS listener does: if it "
                "serves TLS, use https:// in its URL")
    return f"{type(exc).__name__}: {exc}"


def _cause(exc: BaseException, kind: type[E]) -> E | None:
    """The deepest ``kind`` in the chain of causes and contexts of ``exc``: the original error, not a library's
    wrapper that subclasses it (aiohttp's certificate error is an ``ssl.SSLCertVerificationError`` too)."""
    seen: set[int] = set()
    found: E | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            found = current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return found

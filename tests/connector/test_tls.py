"""The connector's clients over TLS (DESIGN §10, issue 24): every client path (the portal client, the channel's
challenge, its wss connect and one-time link downloads) verifies the certificate of a real uvicorn TLS listener
against ``tls_ca_file``, and each refusal names its cause and what fixes it.

The listeners serve the real AAdSys app with its connector attached (its portal is a closed loopback port); the
certificates come from the code of ``aadsys certs``. A refusal happens in the TLS handshake, before any request,
so the portal client's refusals are shown against the same listeners.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from aadsys.certs import ServerCertificate
from aadsys.gateway.app import create_app
from aadsys.gateway.context import AadsysContext
from connector import ConnectorExtension
from connector.control._portal import PortalClient
from connector.data._socketio import SocketIODialer
from connector.errors import ConnectorError, PortalRefused, Refused
from tests.support.databases import AadsysTemplates
from tests.support.live_server import live_server
from tests.support.pki import Pki

UNTRUSTED = ("unable to get local issuer certificate; it is not signed by a CA this side trusts: set tls_ca_file "
             "to the certificate of the CA that signed it")
PATHS = ("portal client", "challenge", "wss connect", "link download")


class _NoReceiver:
    """The consumer's handlers; no event reaches them, as no channel opens in these tests."""

    def on_instance(self, data: Any) -> dict[str, Any]:
        raise AssertionError(f"no instance may arrive: {data}")

    async def on_history_complete(self, data: Any) -> dict[str, Any]:
        raise AssertionError(f"no history may arrive: {data}")

    def on_closing(self, data: Any) -> None:
        pass

    def on_disconnect(self) -> None:
        pass


async def _each_path(url: str, tls: ssl.SSLContext) -> dict[str, str]:
    """What each of the connector's client paths says when it calls ``url``: its error, or ``the server said: …``
    when the connection stood and the server itself refused (no path is given valid credentials)."""
    dialer = SocketIODialer(tls=tls)
    peer = dialer(url)
    portal = PortalClient(url, "pec-client", "not-a-secret", tls=tls)

    async def download() -> None:
        async with peer.download("no-such-token", "no-proof"):
            pass

    calls = {"portal client": portal.token(), "challenge": peer.challenge("not-a-grant"),
             "wss connect": peer.open({"grant": "not-a-grant"}, _NoReceiver()), "link download": download()}
    said = {}
    try:
        for path, call in calls.items():
            try:
                await asyncio.wait_for(call, 20)
            except (Refused, PortalRefused) as exc:
                said[path] = f"the server said: {exc}"
            except ConnectorError as exc:
                said[path] = str(exc)
            else:
                said[path] = "answered"
    finally:
        await portal.aclose()
        await dialer.aclose()
    return said


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def listeners(pki: Pki, aadsys_templates: AadsysTemplates, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[dict[str, str]]:
    """The AAdSys with its connector on three TLS listeners: a good certificate for 127.0.0.1 and localhost, one
    for another host name only, and one that expired; all signed by the CA ``ca``."""
    root = tmp_path_factory.mktemp("provider")
    certificates = {"good": pki.server("good"), "wrong host": pki.server("wrong-host", ["pec.example"]),
                    "expired": pki.server("expired", expired=True)}
    with ExitStack() as stack:
        yield {case: stack.enter_context(_provider(root / case.replace(" ", "-"), certificate, aadsys_templates))
               for case, certificate in certificates.items()}


def _provider(data_dir: Path, certificate: ServerCertificate, templates: AadsysTemplates) -> Any:
    data_dir.mkdir()
    secret = data_dir / "client-secret"
    secret.write_text("not-used")
    settings = templates.settings(data_dir, "pec", "https://pec.example", portal_url="http://127.0.0.1:9",
                                  client_id="pec-connector", client_secret_file=secret,
                                  tls_cert=certificate.cert_file, tls_key=certificate.key_file)
    context = AadsysContext.build(settings)
    app = create_app(settings, context=context, extensions=[ConnectorExtension()])
    return live_server(app, tls_cert=settings.tls_cert, tls_key=settings.tls_key)


def test_a_client_that_trusts_the_signing_ca_reaches_the_server_on_every_path(
        listeners: dict[str, str], pki: Pki) -> None:
    """The control: TLS stands, and each path gets the server's own answer to a request without a valid grant."""
    said = asyncio.run(_each_path(listeners["good"], pki.context("ca")))

    assert said == {"portal client": "the server said: the portal refused a token (404): Not Found",
                    "challenge": "the server said: no-trust: this connector has not yet reached the portal to learn "
                                 "its keys",
                    "wss connect": "the server said: malformed-auth: send {grant, nonce, proof} as the connect auth",
                    "link download": "the server said: link-unknown: no such link"}


def test_a_connector_that_trusts_another_ca_is_refused_on_every_path_and_told_to_set_tls_ca_file(
        listeners: dict[str, str], pki: Pki) -> None:
    said = asyncio.run(_each_path(listeners["good"], pki.context("other-ca")))

    host = listeners["good"].removeprefix("https://")
    for path in PATHS:
        assert f"TLS: the certificate of {host} is refused: {UNTRUSTED}" in said[path], (path, said[path])
    print("\n".join(f"{path}: {message}" for path, message in said.items()))


def test_a_certificate_for_another_host_name_is_refused_on_every_path(listeners: dict[str, str], pki: Pki) -> None:
    said = asyncio.run(_each_path(listeners["wrong host"], pki.context("ca")))

    for path in PATHS:
        assert "IP address mismatch, certificate is not valid for '127.0.0.1'" in said[path], (path, said[path])
        assert "the certificate does not name the host of the URL" in said[path], (path, said[path])
    print("\n".join(f"{path}: {message}" for path, message in said.items()))


def test_an_expired_certificate_is_refused_on_every_path(listeners: dict[str, str], pki: Pki) -> None:
    said = asyncio.run(_each_path(listeners["expired"], pki.context("ca")))

    for path in PATHS:
        assert "certificate has expired; renew the server's certificate" in said[path], (path, said[path])
    print("\n".join(f"{path}: {message}" for path, message in said.items()))


def test_plain_http_to_a_tls_listener_is_refused_with_a_pointer_to_https(listeners: dict[str, str], pki: Pki) -> None:
    """What reaches a TLS listener in clear gets no answer; each path says what that means."""
    plain = listeners["good"].replace("https://", "http://")
    said = asyncio.run(_each_path(plain, pki.context("ca")))

    for path in PATHS:
        assert "closed the connection without an answer to plain http://, as a TLS listener does: if it serves TLS, " \
               "use https://" in said[path], (path, said[path])
    print("\n".join(f"{path}: {message}" for path, message in said.items()))


def test_https_to_a_listener_without_tls_says_it_answers_in_plain_http(pki: Pki) -> None:
    async def token(url: str) -> str:
        portal = PortalClient(url, "pec-client", "not-a-secret", tls=pki.context("ca"))
        try:
            await portal.token()
        except ConnectorError as exc:
            return str(exc)
        finally:
            await portal.aclose()
        return "answered"

    with live_server(FastAPI()) as plain:
        said = asyncio.run(token(plain.replace("http://", "https://")))

    assert said.endswith("TLS: the handshake with " + plain.removeprefix("http://") + " failed: WRONG_VERSION_NUMBER "
                         "(it answers in plain HTTP: serve it with --tls-cert/--tls-key, or behind a TLS proxy)"), said

"""The connector's client of the ABM Portal's REST API (httpx), and of its OAuth2 token endpoint.

Access tokens come from the client-credentials grant (RFC 6749 §4.4, client authentication by HTTP Basic)
and are refreshed before they expire; a 401 from the API fetches a new one once. Errors: a network failure,
timeout or 5xx is ``PortalUnavailable`` (try again later; the connector works on from its caches); any other
refusal is ``PortalRefused`` carrying the problem's ``detail``.

The revocation stream (``revocation_events``, Server-Sent Events through httpx-sse) is the one long response:
its reads may wait ``STREAM_READ_SECONDS`` (the portal sends a keep-alive comment every 15 s), every other
step keeps the request timeout.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import orjson
from httpx_sse import aconnect_sse

from aadsys.tls import client_context, describe_failure
from aas_models import base64url
from aas_models.serialization import Json
from connector.errors import PortalRefused, PortalUnavailable

REFRESH_MARGIN_SECONDS = 30
STREAM_READ_SECONDS = 45.0  # three of the portal's keep-alives: a connection silent for longer is dead
REVOCATION_STREAM = "/api/v1/revocations/stream"


class PortalClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str, *, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = (client_id, client_secret)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport,
                                       verify=tls or client_context(None))
        self._stream_timeout = httpx.Timeout(timeout, read=STREAM_READ_SECONDS)
        self._token: str | None = None
        self._token_expires = 0.0
        self._claims: Json = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- tokens -------------------------------------------------------------------------------------------------
    async def token(self) -> str:
        """A valid access token, fetched anew shortly before the current one expires."""
        if self._token is None or time.monotonic() > self._token_expires - REFRESH_MARGIN_SECONDS:
            answer = await self._send("a token", "POST", "/oauth/token", auth=self._credentials,
                                      data={"grant_type": "client_credentials"}, bearer=False)
            self._token = str(answer["access_token"])
            self._token_expires = time.monotonic() + float(answer.get("expires_in", 60))
            self._claims = unverified_claims(self._token)
        return self._token

    async def own_org_id(self) -> str:
        """This organisation's id at the portal: the ``org`` claim of our access token."""
        await self.token()
        return str(self._claims["org"])

    # -- trust --------------------------------------------------------------------------------------------------
    async def issuer(self) -> str:
        meta = await self._send("the server metadata", "GET", "/.well-known/oauth-authorization-server",
                                bearer=False)
        return str(meta["issuer"])

    async def jwks(self) -> Json:
        return await self._send("the JWKS", "GET", "/.well-known/jwks.json", bearer=False)

    async def reachable(self) -> bool:
        try:
            await self._send("health", "GET", "/healthz", bearer=False)
        except (PortalUnavailable, PortalRefused):
            return False
        return True

    # -- organisations and assets -------------------------------------------------------------------------------
    async def register_connector(self, endpoint_url: str, signing_key: str, encryption_key: str) -> Json:
        return await self._send("connector registration", "PUT", "/api/v1/connector", json={
            "endpointUrl": endpoint_url, "signingKey": signing_key, "encryptionKey": encryption_key})

    async def organisation(self, org_id: str) -> Json:
        return await self._send("the organisation", "GET", f"/api/v1/organisations/{org_id}")

    async def assets(self, *, org: str | None = None, q: str | None = None) -> list[Json]:
        params = {k: v for k, v in (("org", org), ("q", q)) if v}
        return list((await self._send("the catalog", "GET", "/api/v1/assets", params=params))["items"])

    async def asset(self, asset_id: str) -> Json:
        return await self._send("the asset", "GET", f"/api/v1/assets/{asset_id}")

    async def publish(self, body: Json) -> Json:
        return await self._send("publishing", "POST", "/api/v1/assets", json=body)

    async def update_asset(self, asset_id: str, body: Json) -> Json:
        return await self._send("the asset update", "PUT", f"/api/v1/assets/{asset_id}", json=body)

    # -- subscriptions ------------------------------------------------------------------------------------------
    async def subscriptions(self) -> list[Json]:
        return list((await self._send("subscriptions", "GET", "/api/v1/subscriptions"))["items"])

    async def request_subscription(self, asset_id: str, mode: str, valid_from: datetime, valid_to: datetime
                                   ) -> Json:
        return await self._send("the subscription request", "POST", "/api/v1/subscriptions", json={
            "assetId": asset_id, "mode": mode, "validFrom": valid_from.isoformat(),
            "validTo": valid_to.isoformat()})

    async def grant(self, subscription_id: str) -> Json:
        return await self._send("a grant", "GET", f"/api/v1/subscriptions/{subscription_id}/grant")

    async def verify(self, subscription_id: str, grant: str) -> Json:
        return await self._send("the grant check", "POST", f"/api/v1/subscriptions/{subscription_id}/verify",
                                json={"grant": grant})

    async def revocations(self, since: int) -> Json:
        return await self._send("revocations", "GET", "/api/v1/revocations", params={"since": since})

    async def revoke(self, subscription_id: str, reason: str | None) -> Json:
        """As the provider's connector: the portal revokes the subscription (what ``aadsys connector revoke`` did
        here first); revoking a revoked one again changes nothing."""
        return await self._send("the revocation", "POST", f"/api/v1/subscriptions/{subscription_id}/revoke",
                                json={"reason": reason} if reason else None)

    async def revocation_events(self, since: int, opened: Callable[[], None] | None = None
                                ) -> AsyncIterator[Json]:
        """The portal's revocation stream after ``since`` (sent as ``Last-Event-ID``): each item as the feed gives
        it, until the portal ends the stream (our access token expired, or it shuts down). ``opened`` is called
        once the portal accepted the stream."""
        what = "the revocation stream"
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {await self.token()}", "Last-Event-ID": str(since)}
            try:
                async with aconnect_sse(self._http, "GET", REVOCATION_STREAM, headers=headers,
                                        timeout=self._stream_timeout) as source:
                    response = source.response
                    if response.status_code == 401 and attempt == 0:
                        self._token = None  # as in _send: one fresh token, then give up
                        continue
                    if response.status_code >= 500:
                        raise PortalUnavailable(what, f"HTTP {response.status_code}")
                    if response.status_code >= 400:
                        await response.aread()
                        raise PortalRefused(what, response.status_code, _detail(response))
                    if opened is not None:
                        opened()
                    async for event in source.aiter_sse():
                        if event.event == "revocation":
                            item = orjson.loads(event.data)
                            since = int(item["seq"])
                            yield item
                    return
            except httpx.HTTPError as exc:
                raise PortalUnavailable(what, describe_failure(exc, self.base_url)) from None

    # -- reports ------------------------------------------------------------------------------------------------
    async def report_transfer(self, transfer_id: str, side: str, count: int, digest: str) -> Json:
        return await self._send("the transfer report", "POST", f"/api/v1/transfers/{transfer_id}/reports",
                                json={"side": side, "count": count, "digest": digest})

    async def report_progress(self, subscription_id: str, side: str, count: int, last_seq: int, expired: int
                              ) -> Json:
        return await self._send("the progress report", "POST", f"/api/v1/subscriptions/{subscription_id}/progress",
                                json={"side": side, "count": count, "lastSeq": last_seq, "expired": expired})

    # -- transport ----------------------------------------------------------------------------------------------
    async def _send(self, what: str, method: str, path: str, *, bearer: bool = True, **kwargs: Any) -> Json:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {await self.token()}"} if bearer else {}
            try:
                response = await self._http.request(method, path, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise PortalUnavailable(what, describe_failure(exc, self.base_url)) from None
            if response.status_code == 401 and bearer and attempt == 0:
                self._token = None  # revoked, or the portal rotated keys: one fresh token, then give up
                continue
            if response.status_code >= 500:
                raise PortalUnavailable(what, f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise PortalRefused(what, response.status_code, _detail(response))
            return orjson.loads(response.content) if response.content else {}
        raise AssertionError("unreachable")


def _detail(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error_description") or body.get("error") or body)
    return str(body)[:300]


def unverified_claims(jwt: str) -> Json:
    """The claims of a token the portal gave us in answer to our own request (not a trust check)."""
    payload = jwt.split(".")[1]
    return orjson.loads(base64url.decode(payload))  # type: ignore[no-any-return]

"""The shop's side of PEC's AAdSys business API (``/api/v1``), over HTTP only, every request with ``X-API-Key``.

Answers to writes are sorted into three outcomes (the sender's whole decision table):

- ``accepted``: 201 created, or 200 the same content again (the AAdSys's POST is idempotent by key);
- ``refused``: any other 4xx except 401/403/408/429: the record itself is wrong, sending it again cannot help;
- ``retry``: transport errors, 5xx, and 401/403/408/429 (a key or a load problem an operator can fix).

Many records go in one bulk request (a JSON array) with an answer per record, sorted by the same table: the
request's own status for every record when it failed as a whole, else each record's status in the AAdSys's answer.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from httpx_sse import EventSource, aconnect_sse

RETRYABLE_STATUSES = frozenset({401, 403, 408, 429})
STREAM_READ_TIMEOUT = 45.0  # the AAdSys sends a keep-alive comment every 15 s; three missed ones mean a dead stream


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    RETRY = "retry"


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    detail: str
    status: int | None = None
    response: httpx.Response | None = field(default=None, repr=False, compare=False)  # kept on request only


class StreamRefused(Exception):
    """The event stream answered other than 200 text/event-stream."""


class AadsysClient:
    def __init__(self, base_url: str, api_key: str, timeout: float, tls: ssl.SSLContext) -> None:
        # trust_env=False: the AAdSys is the company's own, reached directly, never through a proxy from the env.
        self._http = httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": api_key},
                                       timeout=httpx.Timeout(timeout), trust_env=False, verify=tls)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def upload_file(self, data: bytes, content_type: str, sha256: str) -> Answer:
        """``POST /api/v1/files`` with the digest, so the AAdSys refuses a body damaged on the way."""
        return await self._write("POST", "/api/v1/files", content=data,
                                 headers={"Content-Type": content_type, "X-Content-SHA256": sha256})

    async def post_instance(self, asset_type: str, body: bytes) -> Answer:
        return await self._write("POST", f"/api/v1/asset-types/{asset_type}/instances", content=body,
                                 headers={"Content-Type": "application/json"})

    async def post_instances(self, asset_type: str, bodies: Sequence[bytes]) -> list[Answer] | None:
        """Many records in one bulk request: an answer per record, in order. None when the AAdSys refused the request
        as a whole with a 4xx that sending the records one by one may not meet (an AAdSys without bulk ingest
        answers 400 to an array; 413: a body over its bulk limit)."""
        answer = await self._write("POST", f"/api/v1/asset-types/{asset_type}/instances",
                                   content=b"[" + b",".join(bodies) + b"]",
                                   headers={"Content-Type": "application/json"}, keep=True)
        if answer.outcome is Outcome.REFUSED:
            return None
        if answer.outcome is Outcome.RETRY or answer.response is None:
            return [answer] * len(bodies)
        try:
            items = answer.response.json()["items"]
            if not isinstance(items, list) or len(items) != len(bodies):
                raise ValueError(f"{len(items)} answers for {len(bodies)} records")
            return [_item_answer(item) for item in items]
        except (ValueError, TypeError, KeyError) as exc:  # an answer this client cannot read: the records again
            unreadable = Answer(Outcome.RETRY, f"{answer.status} unreadable bulk answer: {exc}", answer.status)
            return [unreadable] * len(bodies)

    async def get_json(self, href: str) -> dict[str, Any]:
        """A business JSON document by the (relative) path the event stream gave; raises on anything but 200."""
        response = await self._http.get(href)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"GET {href} answered JSON that is not an object")
        return body

    @asynccontextmanager
    async def events(self, asset_type: str, last_event_id: int | None) -> AsyncIterator[EventSource]:
        """``GET /api/v1/events`` for one asset type: resumed after ``last_event_id``, or from the beginning."""
        params: dict[str, str | int] = {"assetType": asset_type}
        headers: dict[str, str] = {}
        if last_event_id is None:
            params["after"] = 0
        else:
            headers["Last-Event-ID"] = str(last_event_id)
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        async with aconnect_sse(self._http, "GET", "/api/v1/events", params=params, headers=headers,
                                timeout=timeout) as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                raise StreamRefused(f"{response.status_code} {_problem_detail(response)}")
            yield source

    async def _write(self, method: str, path: str, *, keep: bool = False, **kwargs: Any) -> Answer:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            return Answer(Outcome.RETRY, f"{type(exc).__name__}: {exc or 'no answer'}")
        status = response.status_code
        if status in (200, 201):
            return Answer(Outcome.ACCEPTED, "", status, response if keep else None)
        return _sorted(status, _problem_detail(response))


def _sorted(status: int, detail: str) -> Answer:
    """An answer other than 200/201, by the outcome table."""
    if status >= 500 or status in RETRYABLE_STATUSES or status < 400:
        return Answer(Outcome.RETRY, f"{status} {detail}", status)
    return Answer(Outcome.REFUSED, detail, status)


def _item_answer(item: Any) -> Answer:
    """One record's answer in a bulk answer: its status, and its problem when it was not taken."""
    status = item["status"]
    if status in (200, 201):
        return Answer(Outcome.ACCEPTED, "", status)
    problem = item.get("problem")
    return _sorted(status, _detail_of(problem) if isinstance(problem, dict) else f"record {item['index']} refused")


def _problem_detail(response: httpx.Response) -> str:
    """RFC 9457: ``detail``, plus the field messages of ``errors`` when the AAdSys lists them."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if not isinstance(problem, dict):
        return response.reason_phrase
    return _detail_of(problem, response.reason_phrase)


def _detail_of(problem: dict[str, Any], fallback: str = "refused") -> str:
    detail = str(problem.get("detail") or problem.get("title") or fallback)
    errors = problem.get("errors")
    if isinstance(errors, list) and errors:
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        if fields and fields not in detail:
            detail = f"{detail} ({fields})"
    return detail

"""Server-Sent Events: new instances arrive as they are stored; Last-Event-ID resumes without gaps."""

from __future__ import annotations

import threading

import httpx
import orjson

from tests.aadsys.conftest import Gateway, order

BASE = "/api/v1/asset-types/sales-order/instances"


def _read_events(client: httpx.Client, count: int, headers: dict | None = None, params: dict | None = None
                 ) -> list[dict]:
    events: list[dict] = []
    with client.stream("GET", "/api/v1/events", headers=headers or {}, params=params or {}, timeout=20) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        current: dict = {}
        for line in r.iter_lines():
            if line.startswith("id:"):
                current["id"] = line[3:].strip()
            elif line.startswith("data:"):
                current["data"] = orjson.loads(line[5:].strip())
            elif line == "" and "data" in current:
                events.append(current)
                current = {}
                if len(events) == count:
                    break
    return events


def test_stream_delivers_instances_stored_after_it_opened(gateway: Gateway) -> None:
    received: list[dict] = []

    def listen() -> None:
        with gateway.client("read") as reader:
            received.extend(_read_events(reader, 2, params={"after": 0}))

    listener = threading.Thread(target=listen)
    listener.start()
    with gateway.client() as api:
        api.post(BASE, json=order("SO-1"))
        api.post(BASE, json=order("SO-2"))
    listener.join(timeout=20)
    assert [e["data"]["key"] for e in received] == ["SO-1", "SO-2"]


def test_last_event_id_resumes_after_the_last_seen_instance(api: httpx.Client, gateway: Gateway) -> None:
    seqs = [api.post(BASE, json=order(f"SO-{n}")).json()["seq"] for n in range(4)]
    with gateway.client("read") as reader:
        resumed = _read_events(reader, 2, headers={"Last-Event-ID": str(seqs[1])})
    assert [e["data"]["key"] for e in resumed] == ["SO-2", "SO-3"]
    assert [int(e["id"]) for e in resumed] == seqs[2:]


def test_bad_last_event_id_is_a_problem(api: httpx.Client) -> None:
    r = api.get("/api/v1/events", headers={"Last-Event-ID": "yesterday"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"

"""Bulk ingest: a JSON array or NDJSON of records in one POST, each judged on its own and answered in request order;
good records stored, bad ones named, nothing half-written, limits checked before anything is stored."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest
from sqlmodel import func, select

from aadsys.config import Settings
from aadsys.core import instances as instance_service
from aadsys.core.tables import InstanceRow, SubmodelRow
from aadsys.gateway.bulk import pointer
from tests.aadsys.conftest import CANONICAL_ORDER, Gateway, order
from tests.support.live_server import loopback_get
from tests.support.prometheus import bearer, sample, write_token

BASE = "/api/v1/asset-types/sales-order/instances"
STATUSES = "/api/v1/asset-types/sales-order-status/instances"
NDJSON = {"Content-Type": "application/x-ndjson"}
# Small limits, so that a test reaches each one with a few records: a record is about 500 bytes.
LIMITS = {"max_body_bytes": 4096, "bulk_max_bytes": 64 * 1024, "bulk_max_items": 40, "bulk_chunk_items": 3}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=LIMITS)


def _ndjson(*records: Any) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _stored_keys(gateway: Gateway) -> list[str]:
    with gateway.ctx.db.session() as s:
        return list(s.exec(select(InstanceRow.instance_key).order_by(InstanceRow.id)).all())


def _rows(gateway: Gateway, table: type[InstanceRow] | type[SubmodelRow]) -> int:
    with gateway.ctx.db.session() as s:
        return s.exec(select(func.count()).select_from(table)).one()


def _bulk(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json" and "location" not in response.headers
    body: dict[str, Any] = response.json()
    assert [item["index"] for item in body["items"]] == list(range(len(body["items"])))
    assert isinstance(body["took"], int)
    return body


def _outcomes(body: dict[str, Any]) -> list[tuple[int, str]]:
    return [(item["status"], item["result"]) for item in body["items"]]


def _with_big_label(order_id: str) -> dict[str, Any]:
    return order(order_id, items=[{**CANONICAL_ORDER["items"][0], "labelText": "x" * 5000}])


# -- the two forms -----------------------------------------------------------------------------------------------

def test_an_array_of_records_is_stored_in_order_and_answered_item_by_item(api: httpx.Client,
                                                                          gateway: Gateway) -> None:
    body = _bulk(api.post(BASE, json=[order(f"SO-{n}") for n in range(5)]))

    assert body["errors"] is False
    assert _outcomes(body) == [(201, "created")] * 5
    assert [item["key"] for item in body["items"]] == [f"SO-{n}" for n in range(5)]
    first = body["items"][0]
    assert first["links"]["self"] == f"{BASE}/SO-0" and first["links"]["aas"].startswith("/api/v3.0/shells/")
    assert first["revision"] == 1 and len(first["sha256"]) == 64
    assert [item["seq"] for item in body["items"]] == sorted(item["seq"] for item in body["items"])
    assert _stored_keys(gateway) == [f"SO-{n}" for n in range(5)]  # five records over two chunks of three
    assert api.get(f"{BASE}/SO-4").json()["orderId"] == "SO-4"


def test_an_ndjson_stream_is_stored_like_an_array_and_names_each_line(api: httpx.Client, gateway: Gateway) -> None:
    stream = _ndjson(order("SO-1")) + b"\r\n" + _ndjson(order("SO-2"))[:-1] + b"\r\n" + _ndjson(order("SO-3"))

    body = _bulk(api.post(BASE, content=stream, headers=NDJSON))

    assert _outcomes(body) == [(201, "created")] * 3
    assert [(item["index"], item["line"], item["key"]) for item in body["items"]] == [
        (0, 1, "SO-1"), (1, 3, "SO-2"), (2, 4, "SO-3")]  # a blank line counts as a line, not as a record
    assert _stored_keys(gateway) == ["SO-1", "SO-2", "SO-3"]


def test_a_single_object_keeps_its_single_answer(api: httpx.Client) -> None:
    created = api.post(BASE, json=order("SO-1"))
    assert created.status_code == 201 and created.headers["location"] == f"{BASE}/SO-1"
    assert "items" not in created.json() and created.json()["key"] == "SO-1"
    assert api.post(BASE, json=order("SO-1")).status_code == 200


# -- bad records in the middle -----------------------------------------------------------------------------------

def test_bad_records_in_the_middle_are_named_and_the_good_ones_around_them_stored(api: httpx.Client,
                                                                                  gateway: Gateway) -> None:
    bad_quantity = order("SO-BAD", items=[{**CANONICAL_ORDER["items"][0], "quantity": 0}])
    records = [order("SO-1"), bad_quantity, "not a record", _with_big_label("SO-BIG"), order("SO-2"),
               order("SO-3", total="99.00"), order("SO-4")]

    templates = _rows(gateway, SubmodelRow)  # the type shells' submodel templates

    body = _bulk(api.post(BASE, json=records))

    assert body["errors"] is True
    assert _outcomes(body) == [(201, "created"), (422, "refused"), (400, "refused"), (413, "refused"),
                               (201, "created"), (422, "refused"), (201, "created")]
    quantity = body["items"][1]
    assert quantity["key"] == "SO-BAD" and quantity["problem"]["status"] == 422
    assert quantity["problem"]["type"].endswith("/invalid-record") and "quantity" in quantity["problem"]["detail"]
    assert {"field": "items[0].quantity", "pointer": "/1/items/0/quantity"}.items() <= \
        quantity["problem"]["errors"][0].items()
    assert "JSON object" in body["items"][2]["problem"]["detail"]
    assert body["items"][3]["problem"]["type"].endswith("/record-too-large")
    assert body["items"][3]["problem"]["limit"] == LIMITS["max_body_bytes"]
    assert [e["pointer"] for e in body["items"][5]["problem"]["errors"]] == ["/5/total"]
    # nothing half-written: the refused records left no instance row and no submodel row behind
    assert _stored_keys(gateway) == ["SO-1", "SO-2", "SO-4"]
    assert _rows(gateway, SubmodelRow) == templates + 3  # one per stored order
    assert api.get(f"{BASE}/SO-BAD").status_code == 404


def test_a_malformed_ndjson_line_fails_only_its_record(api: httpx.Client, gateway: Gateway) -> None:
    stream = (_ndjson(order("SO-1")) + b'{"orderId": "SO-CUT", "orderDate": \n' + b"[1, 2]\n"
              + b"x" * 5000 + b"\n" + _ndjson(order("SO-2")))

    body = _bulk(api.post(BASE, content=stream, headers=NDJSON))

    assert _outcomes(body) == [(201, "created"), (400, "refused"), (400, "refused"), (413, "refused"),
                               (201, "created")]
    assert "line 2 is not valid JSON" in body["items"][1]["problem"]["detail"]
    assert "line 3 must be a JSON object, not a JSON array" in body["items"][2]["problem"]["detail"]
    assert [item["line"] for item in body["items"]] == [1, 2, 3, 4, 5]
    assert _stored_keys(gateway) == ["SO-1", "SO-2"]


def test_a_record_that_refers_to_a_file_not_stored_fails_alone(api: httpx.Client, gateway: Gateway) -> None:
    label = {"sha256": "0" * 64, "contentType": "image/png"}
    missing = order("SO-FILE", items=[{**CANONICAL_ORDER["items"][0], "labelImage": label}])

    body = _bulk(api.post(BASE, json=[order("SO-1"), missing, order("SO-2")]))

    assert _outcomes(body) == [(201, "created"), (422, "refused"), (201, "created")]
    assert body["items"][1]["problem"]["type"].endswith("/missing-files")
    assert _stored_keys(gateway) == ["SO-1", "SO-2"]


# -- limits of the request as a whole ---------------------------------------------------------------------------

def test_a_body_over_the_bulk_limit_is_413_and_nothing_is_stored(api: httpx.Client, gateway: Gateway) -> None:
    records = [order(f"SO-{n}") for n in range(38)]  # within the count, over the bytes
    records.append(order("SO-38", items=[{**CANONICAL_ORDER["items"][0], "labelText": "x" * 60_000}]))
    array = orjson.dumps(records)
    assert len(array) > LIMITS["bulk_max_bytes"]

    declared = api.post(BASE, content=array, headers={"Content-Type": "application/json"})
    streamed = api.post(BASE, content=iter([array[:1000], array[1000:]]),  # chunked: counted as it arrives
                        headers={"Content-Type": "application/json"})
    lines = api.post(BASE, content=iter([_ndjson(*records)]), headers=NDJSON)

    for answer in (declared, streamed, lines):
        assert answer.status_code == 413, answer.text
        problem = answer.json()
        assert answer.headers["content-type"] == "application/problem+json"
        assert problem["limit"] == LIMITS["bulk_max_bytes"] and "nothing was stored" in problem["detail"]
    assert _stored_keys(gateway) == []


def test_more_records_than_the_limit_is_413_and_nothing_is_stored(api: httpx.Client, gateway: Gateway) -> None:
    too_many = [order(f"SO-{n}") for n in range(LIMITS["bulk_max_items"] + 1)]

    for answer in (api.post(BASE, json=too_many), api.post(BASE, content=_ndjson(*too_many), headers=NDJSON)):
        assert answer.status_code == 413, answer.text
        assert answer.json()["type"].endswith("/too-many-records") and "41 records" in answer.json()["detail"]
    assert _stored_keys(gateway) == []


def test_a_single_record_is_still_held_to_the_single_body_limit(api: httpx.Client, gateway: Gateway) -> None:
    answer = api.post(BASE, json=_with_big_label("SO-BIG"))
    assert answer.status_code == 413 and answer.json()["limit"] == LIMITS["max_body_bytes"]
    assert _stored_keys(gateway) == []


@pytest.mark.parametrize(("content", "headers"), [(b"[]", {"Content-Type": "application/json"}),
                                                  (b" \n\n", NDJSON),
                                                  (b'[{"orderId": "SO-1"},', {"Content-Type": "application/json"})])
def test_a_bulk_body_without_a_readable_record_is_400(api: httpx.Client, content: bytes,
                                                      headers: dict[str, str]) -> None:
    answer = api.post(BASE, content=content, headers=headers)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"


def test_a_bulk_body_for_an_unknown_type_is_404(api: httpx.Client, gateway: Gateway) -> None:
    answer = api.post("/api/v1/asset-types/purchase-order/instances", json=[order("SO-1")])
    assert answer.status_code == 404 and "sales-order" in answer.json()["detail"]
    assert _stored_keys(gateway) == []


# -- idempotency per key -------------------------------------------------------------------------------------------

def test_repeats_and_conflicts_are_answered_per_record(api: httpx.Client, gateway: Gateway) -> None:
    assert api.post(BASE, json=order("SO-1")).status_code == 201
    records = [order("SO-1"), order("SO-1", channel="mobile"), order("SO-2"), order("SO-2"),
               order("SO-2", channel="phone")]

    body = _bulk(api.post(BASE, json=records))

    assert _outcomes(body) == [(200, "repeat"), (409, "conflict"), (201, "created"), (200, "repeat"),
                               (409, "conflict")]
    assert [item["key"] for item in body["items"]] == ["SO-1", "SO-1", "SO-2", "SO-2", "SO-2"]
    assert body["items"][1]["problem"]["type"].endswith("/instance-conflict")
    assert body["items"][3]["sha256"] == body["items"][2]["sha256"]
    assert _stored_keys(gateway) == ["SO-1", "SO-2"]
    assert api.get(f"{BASE}/SO-2").json()["channel"] == "web"


def test_statuses_of_one_order_in_one_body_are_its_revisions_in_order(api: httpx.Client) -> None:
    status = {"orderId": "SO-1", "status": "received", "trace": [], "updatedAt": "2026-11-22T10:16:00Z"}
    scheduled = {**status, "status": "scheduled", "updatedAt": "2026-11-22T10:20:00Z"}

    body = _bulk(api.post(STATUSES, json=[status, status, scheduled, status]))

    assert _outcomes(body) == [(201, "created"), (200, "repeat"), (201, "created"), (201, "created")]
    assert [item["revision"] for item in body["items"]] == [1, 1, 2, 3]
    assert api.get(f"{STATUSES}/SO-1").json()["status"] == "received"


def test_concurrent_bulk_and_single_posts_of_the_same_keys_store_each_key_once(gateway: Gateway) -> None:
    keys = [f"SO-{n}" for n in range(12)]
    contents = {key: [order(key), order(key, channel="phone")] for key in keys}
    # (which content of each key, as a single POST or in a bulk body): four bulk bodies and many single POSTs
    bulks = [[(key, n % 2) for key in keys[n:] + keys[:n]] for n in range(4)]
    singles = [(key, n % 2) for n in range(2) for key in keys]
    answers: list[tuple[str, int, int, str, str | None]] = []  # key, content, status, result, sha256
    lock = threading.Lock()
    start = threading.Barrier(len(bulks) + 4)

    def post_bulk(body: list[tuple[str, int]]) -> None:
        with gateway.client() as api:
            start.wait()
            result = _bulk(api.post(BASE, json=[contents[key][which] for key, which in body]))
        with lock:
            answers.extend((key, which, item["status"], item["result"], item.get("sha256"))
                           for (key, which), item in zip(body, result["items"], strict=True))

    def post_singles(part: list[tuple[str, int]]) -> None:
        with gateway.client() as api:
            start.wait()
            for key, which in part:
                answer = api.post(BASE, json=contents[key][which])
                result = {201: "created", 200: "repeat", 409: "conflict"}[answer.status_code]
                with lock:
                    answers.append((key, which, answer.status_code, result, answer.json().get("sha256")))

    with ThreadPoolExecutor(len(bulks) + 4) as pool:
        futures = [pool.submit(post_bulk, body) for body in bulks]
        futures += [pool.submit(post_singles, singles[n::4]) for n in range(4)]
        for future in futures:
            future.result()

    assert len(answers) == len(keys) * (len(bulks) + 2)
    assert Counter(_stored_keys(gateway)) == Counter(keys)  # each key stored once
    for key in keys:
        (winner,) = [(which, sha) for k, which, _, result, sha in answers if k == key and result == "created"]
        stored = gateway.ctx.instances.get("sales-order", key)
        assert stored.sha256 == winner[1]
        for k, which, status, result, sha in answers:
            if k != key or result == "created":
                continue
            # the same content as the stored one is a repeat of it; the other content a conflict
            assert (status, result, sha) == ((200, "repeat", stored.sha256) if which == winner[0] else
                                             (409, "conflict", None)), (k, which, status, result)


# -- what a failure of the database leaves -------------------------------------------------------------------------

def test_a_database_failure_mid_way_leaves_whole_chunks_and_the_retry_completes(
        api: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    insert = instance_service.insert_instance
    calls = Counter[str]()

    def failing_on_the_fifth(*args: Any, **kwargs: Any) -> int:
        calls["insert"] += 1
        if calls["insert"] == 5:
            raise RuntimeError("the database went away")
        return insert(*args, **kwargs)

    records = [order(f"SO-{n}") for n in range(8)]
    templates = _rows(gateway, SubmodelRow)
    monkeypatch.setattr(instance_service, "insert_instance", failing_on_the_fifth)
    failed = api.post(BASE, json=records)
    assert failed.status_code == 500
    assert _stored_keys(gateway) == ["SO-0", "SO-1", "SO-2"]  # the first chunk whole, nothing of the second

    monkeypatch.setattr(instance_service, "insert_instance", insert)
    with gateway.client() as again:  # what a client does: send the whole request again (the server closed the first
        body = _bulk(again.post(BASE, json=records))  # connection after its 500)
    assert _outcomes(body) == [(200, "repeat")] * 3 + [(201, "created")] * 5
    assert _stored_keys(gateway) == [f"SO-{n}" for n in range(8)]
    assert _rows(gateway, SubmodelRow) == templates + 8


# -- what bulk-stored records raise --------------------------------------------------------------------------------

def test_bulk_stored_records_are_counted_and_streamed_like_single_ones(api: httpx.Client, gateway: Gateway) -> None:
    token = write_token(gateway.ctx.settings.resolved_metrics_token_file)
    own_commits = gateway.ctx.events.own_commits["sales-order"]
    assert api.post(BASE, json=order("SO-0")).status_code == 201

    body = _bulk(api.post(BASE, json=[order(f"SO-{n}") for n in range(5)]))  # one repeat, four new over 2 chunks
    assert _outcomes(body) == [(200, "repeat")] + [(201, "created")] * 4

    metrics = loopback_get(f"{gateway.url}/metrics", headers=bearer(token)).text
    assert sample(metrics, "aadsys_instances_created_total", asset_type="sales-order") == 5
    assert gateway.ctx.events.own_commits["sales-order"] >= own_commits + 3  # the single commit and each chunk's
    with gateway.client("read") as reader:
        events = list(_events(reader, 5))
    assert [e["key"] for e in events] == [f"SO-{n}" for n in range(5)]
    assert [e["seq"] for e in events] == [item["seq"] for item in body["items"]]


def _events(client: httpx.Client, count: int) -> Iterator[dict[str, Any]]:
    with client.stream("GET", "/api/v1/events", params={"after": 0, "assetType": "sales-order"}, timeout=20) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data:"):
                yield orjson.loads(line[5:])
                count -= 1
                if not count:
                    return


# -- who may -------------------------------------------------------------------------------------------------------

def test_a_bulk_body_needs_the_write_scope(gateway: Gateway) -> None:
    records = [order("SO-1"), order("SO-2")]
    with gateway.client(None) as anonymous, gateway.client("read") as reader:
        assert anonymous.post(BASE, json=records).status_code == 401
        assert anonymous.post(BASE, content=_ndjson(*records), headers=NDJSON).status_code == 401
        assert reader.post(BASE, json=records).status_code == 403
        assert reader.post(BASE, content=_ndjson(*records), headers=NDJSON).status_code == 403
    assert _stored_keys(gateway) == []


# -- pointers --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("index", "field", "expected"), [
    (3, "items[0].quantity", "/3/items/0/quantity"), (0, "customer.displayName", "/0/customer/displayName"),
    (2, "(body)", "/2"), (1, "total", "/1/total"), (4, "a/b~c", "/4/a~1b~0c")])
def test_a_field_is_pointed_at_with_an_rfc_6901_pointer_into_the_body(index: int, field: str, expected: str) -> None:
    assert pointer(index, field) == expected

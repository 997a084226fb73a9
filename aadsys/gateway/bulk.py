"""Bulk ingest: many records in one POST, each judged on its own, answered item by item in request order.

A JSON array (``application/json``) or newline-delimited JSON (``application/x-ndjson``, one record a line) sent to
``POST /api/v1/asset-types/{type}/instances``. The answer is a 200 whose ``items`` say, in request order, what a
single POST of each record would have answered, with its status (Elasticsearch's ``_bulk`` answers this way):

- 201 ``created`` and 200 ``repeat`` carry the single POST's receipt (``links.self`` …);
- 409 ``conflict``, and 422, 400 and 413 ``refused``, carry that POST's RFC 9457 problem; its ``errors`` point at
  each broken field with an RFC 6901 JSON Pointer into the request body (``/3/items/0/quantity``: the fourth record;
  in NDJSON the n-th record counts as element n-1, and ``line`` names its line).

A line that is not JSON, a record that is not a JSON object, a record larger than a single body: each fails only
itself. What fails the request as a whole, before anything is stored: a body over ``bulk_max_bytes`` or with
more than ``bulk_max_items`` records (413), an array that is not valid JSON or holds no record (400).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import orjson

from aadsys.config import Settings
from aadsys.core.errors import InstanceConflict
from aadsys.core.instances import Accepted, InstanceService, Refusal, StoredInstance
from aadsys.gateway.file_links import FILES_ROUTE
from aadsys.gateway.problems import ProblemError, problem_of

CREATED, REPEAT, CONFLICT, REFUSED = "created", "repeat", "conflict", "refused"
_FIELD_STEP = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")  # items[0].quantity -> items, 0, quantity


@dataclass(frozen=True, slots=True)
class BulkLimits:
    item_bytes: int  # what a single POST's body may hold: each record on its own
    items: int
    chunk_items: int

    @classmethod
    def of(cls, settings: Settings) -> BulkLimits:
        return cls(settings.max_body_bytes, settings.bulk_max_items, settings.bulk_chunk_items)


@dataclass(frozen=True, slots=True)
class _Item:
    """One record of the body as read: a JSON object to store, or why it cannot be one."""

    record: dict[str, Any] | None
    refusal: ProblemError | None = None
    line: int | None = None  # NDJSON: the line of the body it was read from (1-based)


def ingest(instances: InstanceService, slug: str, body: bytes, *, ndjson: bool, limits: BulkLimits,
           receipt: Callable[[StoredInstance], dict[str, Any]]) -> dict[str, Any]:
    """Store the records of a bulk body, in order; ``{"took", "errors", "items"}`` with an item per record."""
    started = time.perf_counter()
    spec = instances.get_spec(slug)  # an unknown type: 404 for the request, before its body is read
    items = list(_lines(body, limits) if ndjson else _elements(body, limits))
    if not items:
        raise ProblemError(400, "no-records", "No records", "the body holds no record; send at least one "
                           + ("JSON object, one per line" if ndjson else "JSON object in the array"))
    if len(items) > limits.items:
        raise ProblemError(413, "too-many-records", "Too many records",
                           f"the body holds {len(items)} records, more than the {limits.items} a bulk request may "
                           "hold; nothing was stored: send them in smaller requests", limit=limits.items)
    to_store = [(index, item.record) for index, item in enumerate(items)
                if item.refusal is None and item.record is not None]
    outcomes = dict(zip((index for index, _ in to_store),
                        instances.create_many(slug, [record for _, record in to_store], chunk_items=limits.chunk_items),
                        strict=True))
    answers = []
    for index, item in enumerate(items):
        answer: dict[str, Any] = {"index": index, **({"line": item.line} if item.line is not None else {})}
        if isinstance(key := (item.record or {}).get(spec.key_field), str):
            answer["key"] = key  # where the record names one, refused or not
        outcome = outcomes.get(index)
        answer |= _stored(outcome, receipt) if isinstance(outcome, Accepted) else _refused(index, item, outcome)
        answers.append(answer)
    return {"took": round((time.perf_counter() - started) * 1000), "errors": any(a["status"] >= 300 for a in answers),
            "items": answers}


def _stored(outcome: Accepted, receipt: Callable[[StoredInstance], dict[str, Any]]) -> dict[str, Any]:
    return {"status": 201 if outcome.created else 200, "result": CREATED if outcome.created else REPEAT,
            **receipt(outcome.instance)}


def _refused(index: int, item: _Item, outcome: Refusal | None) -> dict[str, Any]:
    problem = item.refusal if outcome is None else problem_of(outcome)
    assert problem is not None, "every record is either refused as read or has an outcome of the store"
    body = problem.body()
    if isinstance(errors := body.get("errors"), list):
        body["errors"] = [{**e, "pointer": pointer(index, e["field"])} if isinstance(e.get("field"), str) else e
                          for e in errors]
    return {"status": problem.status, "result": CONFLICT if isinstance(outcome, InstanceConflict) else REFUSED,
            "problem": body}


def pointer(index: int, field: str) -> str:
    """The RFC 6901 JSON Pointer into the bulk body of a field of record ``index`` named as the models name it
    (``items[0].quantity``; ``(body)`` for the record as a whole)."""
    steps = [str(index)]
    if field != "(body)":
        steps += [number or name for number, name in _FIELD_STEP.findall(field)]
    return "".join("/" + step.replace("~", "~0").replace("/", "~1") for step in steps)


def _elements(body: bytes, limits: BulkLimits) -> Iterator[_Item]:
    """The records of a JSON array: malformed JSON fails the request (no record can be told from the next)."""
    try:
        records = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "malformed-json", "Malformed JSON", f"the body is not valid JSON: {exc}") from None
    if not isinstance(records, list):  # the route sends only bodies that open with '['
        raise ProblemError(400, "malformed-json", "Malformed JSON", "a bulk body must be a JSON array of records")
    measure = len(body) > limits.item_bytes  # a smaller body holds no record over the limit
    for record in records:
        size = len(orjson.dumps(record)) if measure else 0
        yield _judged(record, size, limits, "the record")


def _lines(body: bytes, limits: BulkLimits) -> Iterator[_Item]:
    """The records of NDJSON, one a line; blank lines are skipped, and a line that is not JSON fails itself only."""
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(line) > limits.item_bytes:
            yield _Item(None, _too_large(len(line), limits), number)
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield _Item(None, ProblemError(400, "malformed-json", "Malformed JSON",
                                           f"line {number} is not valid JSON: {exc}"), number)
            continue
        yield replace(_judged(record, 0, limits, f"line {number}"), line=number)


def _judged(record: Any, size: int, limits: BulkLimits, what: str) -> _Item:
    if size > limits.item_bytes:
        return _Item(None, _too_large(size, limits))
    if not isinstance(record, dict):
        return _Item(None, ProblemError(400, "malformed-json", "Malformed JSON",
                                        f"{what} must be a JSON object, not a JSON {_json_kind(record)}"))
    return _Item(record)


def _too_large(size: int, limits: BulkLimits) -> ProblemError:
    return ProblemError(413, "record-too-large", "Record too large",
                        f"the record is {size} bytes, more than the {limits.item_bytes} one record may be; send "
                        f"large content as a file (POST {FILES_ROUTE})", limit=limits.item_bytes)


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)

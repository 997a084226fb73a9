"""A bounded sweep of wrong values into every field of a Sales Order: always a 4xx naming a field, never a 500."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import orjson

from aas_models import Owner, render_instance
from tests.aadsys.conftest import CANONICAL_ORDER
from tests.aadsys.test_bad_input import BASE

WRONG_VALUES: list[Any] = [None, [], {}, "", "x" * 5000, -1, 0, 1e308, True, "2026-13-45", {"$ref": "#"}]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, (*path, index))
    else:
        yield path


def _with(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return changed


def test_every_leaf_of_an_order_with_a_wrong_value_is_a_clear_4xx(api: httpx.Client) -> None:
    seen = 0
    for path in _leaves(CANONICAL_ORDER):
        for wrong in WRONG_VALUES:
            candidate = _with(CANONICAL_ORDER, path, wrong)
            if candidate == CANONICAL_ORDER:
                continue
            r = api.post(BASE, json=candidate)
            seen += 1
            if r.status_code in (200, 201):  # a value that happens to be valid, e.g. labelText ""
                continue
            assert 400 <= r.status_code < 500, (path, wrong, r.text)
            assert r.headers["content-type"] == "application/problem+json" and r.json()["detail"], (path, wrong)
    assert seen > 150


def test_wrong_values_inside_aas_json_are_never_a_server_error(api: httpx.Client) -> None:
    env = orjson.loads(render_instance("sales-order", CANONICAL_ORDER, Owner("pec", "https://pec.example")).aas_json)
    seen = 0
    for path in _leaves(env):
        for wrong in (None, [], 7, "not-a-value"):
            r = api.post(BASE, content=orjson.dumps(_with(env, path, wrong)),
                         headers={"Content-Type": "application/aas+json"})
            seen += 1
            assert r.status_code < 500, (path, wrong, r.text)
    assert seen > 100

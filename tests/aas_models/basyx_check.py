"""What basyx-python-sdk (the model of record) makes of our JSON."""

from __future__ import annotations

import io
import json
from typing import Any

from basyx.aas.adapter.json import object_store_to_json, read_aas_json_file


def basyx_round_trip(env_json: bytes | str) -> dict[str, Any]:
    """Read ``env_json`` strictly with basyx and write it back with basyx, as a dict sorted like the input."""
    text = env_json.decode() if isinstance(env_json, bytes) else env_json
    store = read_aas_json_file(io.StringIO(text), failsafe=False)
    again = json.loads(object_store_to_json(store))
    original = json.loads(text)
    for kind in ("assetAdministrationShells", "submodels"):
        order = {item["id"]: i for i, item in enumerate(original.get(kind, []))}
        again[kind] = sorted(again.get(kind, []), key=lambda item: order[item["id"]])
    for shell in again["assetAdministrationShells"]:
        shell.get("submodels", []).sort(key=lambda ref: ref["keys"][0]["value"])
    for shell in original["assetAdministrationShells"]:
        shell.get("submodels", []).sort(key=lambda ref: ref["keys"][0]["value"])
    again.pop("conceptDescriptions", None)
    return again


def sorted_refs(env_json: bytes | str) -> dict[str, Any]:
    env = json.loads(env_json)
    for shell in env["assetAdministrationShells"]:
        shell.get("submodels", []).sort(key=lambda ref: ref["keys"][0]["value"])
    return env  # type: ignore[no-any-return]

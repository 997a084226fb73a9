"""Finding a submodel element by its idShortPath (IDTA AAS Part 2 v3.0 §12.2): ``items[0].ingredients``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Path

from aadsys.gateway.part2.patterns import ID_SHORT, ID_SHORT_PATH
from aadsys.gateway.part2.results import AasApiError
from aas_models.serialization import Extent, Json, Level, children, shaped, value_only

_PATH = re.compile(ID_SHORT_PATH)
_STEP = re.compile(rf"({ID_SHORT})|\[([0-9]+)\]")

IdShortPath = Annotated[str, Path(pattern=ID_SHORT_PATH, description="idShorts joined with '.', list indices as "
                                                                     "[n], e.g. items[0].ingredients")]


def parse_path(path: str) -> list[str | int]:
    """``a.b[2].c`` → ``["a", "b", 2, "c"]``; 400 when it is not an idShortPath."""
    if not _PATH.fullmatch(path):
        raise AasApiError(400, f"idShortPath '{path}' is malformed; join idShorts with '.' and write list "
                               "indices as [n], e.g. items[0].ingredients")
    return [name if name else int(index) for name, index in _STEP.findall(path)]


def find_element(submodel: Json, path: str) -> tuple[Json, list[Json]]:
    """The element at ``path`` and the chain of elements leading to it (for $reference)."""
    chain: list[Json] = []
    current = submodel
    for step in parse_path(path):
        kids = children(current)
        if isinstance(step, int):
            if current.get("modelType") != "SubmodelElementList" or step >= len(kids):
                raise AasApiError(404, f"no element at index [{step}] in '{path}'")
            current = kids[step]
        else:
            found = next((k for k in kids if k.get("idShort") == step), None)
            if found is None:
                raise AasApiError(404, f"no submodel element '{step}' on the path '{path}' of submodel "
                                       f"'{submodel.get('id')}'")
            current = found
        chain.append(current)
    return current, chain


def element_at(submodel: Json, path: str, level: Level = Level.deep, extent: Extent = Extent.withoutBlobValue
               ) -> Json:
    """GetSubmodelElementByPath: the element at ``path`` with the modifiers applied."""
    return shaped(find_element(submodel, path)[0], level, extent)


def element_value_at(submodel: Json, path: str, level: Level = Level.deep, extent: Extent = Extent.withoutBlobValue
                     ) -> Any:
    """GetSubmodelElementByPath-ValueOnly: its ValueOnly form; ``{}`` for an element without a value (e.g. a
    template Property), still a JSON object."""
    value = value_only(find_element(submodel, path)[0], level, extent)
    return {} if value is None else value


def element_reference(submodel_id: str, chain: list[Json], path: str) -> Json:
    """ModelReference to an element: the submodel key, then one key per step (list items by index)."""
    keys: list[dict[str, Any]] = [{"type": "Submodel", "value": submodel_id}]
    steps = parse_path(path)
    for element, step in zip(chain, steps, strict=True):
        keys.append({"type": element.get("modelType"), "value": str(step)})
    return {"type": "ModelReference", "keys": keys}

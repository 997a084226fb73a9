"""Serialization modifiers of IDTA AAS Part 2 v3.0 §11: level, extent, $metadata, $value, $reference, $path.

Pure functions over AAS JSON objects: the store renders the ValueOnly form of every submodel once, as it is
written, and the Part 2 API applies the rest to what it reads.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

Json = dict[str, Any]  # an AAS JSON object, parsed: the one alias of it for every package

_NUMBER_TYPES = {
    "xs:decimal", "xs:integer", "xs:long", "xs:int", "xs:short", "xs:byte", "xs:nonNegativeInteger",
    "xs:positiveInteger", "xs:nonPositiveInteger", "xs:negativeInteger", "xs:unsignedLong", "xs:unsignedInt",
    "xs:unsignedShort", "xs:unsignedByte", "xs:double", "xs:float",
}
# What each element kind holds as its value; $metadata leaves these out.
_VALUE_KEYS = {
    "Property": ("value", "valueId"), "MultiLanguageProperty": ("value", "valueId"), "Range": ("min", "max"),
    "File": ("value",), "Blob": ("value",), "ReferenceElement": ("value",),
    "SubmodelElementCollection": ("value",), "SubmodelElementList": ("value",),
    "RelationshipElement": ("first", "second"), "AnnotatedRelationshipElement": ("first", "second", "annotations"),
    "Entity": ("statements", "globalAssetId", "specificAssetIds"), "Submodel": ("submodelElements",),
}


class Level(StrEnum):
    deep = "deep"
    core = "core"


class Extent(StrEnum):
    withoutBlobValue = "withoutBlobValue"  # noqa: N815 (the spec's spelling)
    withBlobValue = "withBlobValue"  # noqa: N815


def children(element: Json) -> list[Json]:
    """Direct child elements of a submodel or element."""
    kind = element.get("modelType")
    if kind == "Submodel":
        return list(element.get("submodelElements") or [])
    if kind in ("SubmodelElementCollection", "SubmodelElementList"):
        return list(element.get("value") or [])
    if kind == "Entity":
        return list(element.get("statements") or [])
    if kind == "AnnotatedRelationshipElement":
        return list(element.get("annotations") or [])
    return []


def descendants(element: Json) -> Iterator[Json]:
    """Every element below a submodel or element, depth first, parents before their children; what is not an
    object (in JSON a client sent) is passed over."""
    for child in children(element):
        if isinstance(child, dict):
            yield child
            yield from descendants(child)


def semantic_id_of(element: Json) -> str | None:
    """The value of the first key of an element's (or submodel's) semanticId."""
    keys = (element.get("semanticId") or {}).get("keys") or []
    return keys[0].get("value") if keys else None


def _child_key(kind: str | None) -> str | None:
    return {"Submodel": "submodelElements", "SubmodelElementCollection": "value", "SubmodelElementList": "value",
            "Entity": "statements", "AnnotatedRelationshipElement": "annotations"}.get(kind or "")


def shaped(element: Json, level: Level, extent: Extent, depth: int = 0) -> Json:
    """A copy of ``element`` with ``level`` and ``extent`` applied (§11.3): core keeps direct children only."""
    out = dict(element)
    if extent is Extent.withoutBlobValue and out.get("modelType") == "Blob":
        out.pop("value", None)
    key = _child_key(out.get("modelType"))
    if key and key in out:
        if level is Level.core and depth >= 1:
            del out[key]
        else:
            out[key] = [shaped(c, level, extent, depth + 1) for c in out[key]]
    return out


def metadata(element: Json) -> Json:
    """The element without its values (§11.4.2)."""
    return {k: v for k, v in element.items() if k not in _VALUE_KEYS.get(element.get("modelType", ""), ())}


def value_only(element: Json, level: Level = Level.deep, extent: Extent = Extent.withoutBlobValue,
               depth: int = 0) -> Any:
    """The ValueOnly serialization of an element or submodel (§11.4.3)."""
    kind = element.get("modelType")
    if kind == "Submodel" or kind == "SubmodelElementCollection":
        if level is Level.core and depth >= 1:
            return {}
        return {c["idShort"]: value_only(c, level, extent, depth + 1) for c in children(element)
                if c.get("idShort") and _has_value(c)}
    if kind == "SubmodelElementList":
        if level is Level.core and depth >= 1:
            return []
        return [value_only(c, level, extent, depth + 1) for c in children(element)]
    if kind == "Property":
        return typed_value(element.get("value"), element.get("valueType"))
    if kind == "MultiLanguageProperty":
        return [{s["language"]: s["text"]} for s in element.get("value") or []]
    if kind == "Range":
        vt = element.get("valueType")
        return {k: typed_value(element[k], vt) for k in ("min", "max") if k in element}
    if kind in ("File", "Blob"):
        out = {"contentType": element.get("contentType")}
        if "value" in element and (kind == "File" or extent is Extent.withBlobValue):
            out["value"] = element["value"]
        return out
    if kind == "ReferenceElement":
        return element.get("value")
    if kind in ("RelationshipElement", "AnnotatedRelationshipElement"):
        out = {"first": element.get("first"), "second": element.get("second")}
        if kind == "AnnotatedRelationshipElement":
            out["annotations"] = [{a["idShort"]: value_only(a, level, extent, depth + 1)}
                                  for a in element.get("annotations") or []]
        return out
    if kind == "Entity":
        out = {"statements": {s["idShort"]: value_only(s, level, extent, depth + 1)
                              for s in element.get("statements") or [] if s.get("idShort")},
               "entityType": element.get("entityType")}
        for key in ("globalAssetId", "specificAssetIds"):
            if key in element:
                out[key] = element[key]
        return out
    return None


def _has_value(element: Json) -> bool:
    return element.get("modelType") not in ("Operation", "Capability", "BasicEventElement")


def typed_value(value: Any, value_type: str | None) -> Any:
    """A Property's lexical value as ValueOnly shows it: numbers and booleans as JSON's own."""
    if value is None:
        return None
    if value_type == "xs:boolean":
        return value in ("true", "1")
    if value_type in _NUMBER_TYPES:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        return int(number) if number == number.to_integral_value() and "." not in value and "e" not in value.lower() \
            else float(number)
    return value


def paths(element: Json, prefix: str, level: Level) -> list[str]:
    """The idShortPaths of ``element`` and everything below it (§11.4.5), ``prefix`` being its own path."""
    out = [prefix] if prefix else []
    if level is Level.core and prefix:
        return out
    for index, child in enumerate(children(element)):
        if element.get("modelType") == "SubmodelElementList":
            path = f"{prefix}[{index}]"
        else:
            path = f"{prefix}.{child.get('idShort')}" if prefix else str(child.get("idShort"))
        out += paths(child, path, level) if level is Level.deep else [path]
    return out


def blob_bytes(element: Json) -> bytes:
    try:
        return base64.b64decode(element.get("value") or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


def json_array(items: Iterable[bytes], before: bytes, after: bytes) -> bytes:
    """``before``, the JSON ``items`` comma-separated, ``after``: in one copy, as a page of submodels is a megabyte."""
    parts = [before]
    for index, item in enumerate(items):
        if index:
            parts.append(b",")
        parts.append(item)
    parts.append(after)
    return b"".join(parts)

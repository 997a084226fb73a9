"""Business JSON <-> AAS JSON submodel elements, compiled once from the basyx templates.

The hot path writes AAS JSON text straight from the validated record (pydantic model; a template idShort
is the camelCase alias of a record field) through a small tree of nodes, instead of building basyx objects
(DESIGN §3: a basyx round trip of a 130 KB shell costs ~80 ms; writing text costs ~1.5 ms per 100 KB order,
a third less than building dicts for orjson). The same nodes write the ValueOnly form (Part 2 §11.4.3) that a
store keeps beside the AAS JSON, so it is never parsed back out of the text just written.
``tests/aas_models`` proves that what these nodes emit reads back through basyx unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from json.encoder import encode_basestring
from typing import Any

import orjson
from basyx.aas import model
from basyx.aas.model import datatypes as xs
from pydantic.alias_generators import to_snake

from aas_models._errors import AasInvalid
from aas_models._ids import FILE_REFERENCE_PREFIX, file_reference, referenced_digest
from aas_models.serialization import Json, typed_value


def _utc_in(value: str) -> str:
    # Records hold UTC. AAS JSON writes it as +00:00, as basyx does (so our bytes survive a basyx round
    # trip); business JSON writes it as Z, as pydantic does.
    return value[:-6] + "Z" if value.endswith("+00:00") else value


def _boolean(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(f"'{value}' is not an xs:boolean")
    return value == "true"


# valueType -> (record value -> xs lexical form, xs lexical form -> business JSON value)
_CODECS: dict[str, tuple[Callable[[Any], str], Callable[[str], Any]]] = {
    "xs:string": (str, str),
    "xs:int": (str, int),
    "xs:double": (repr, float),
    "xs:decimal": (str, str),  # money stays a string in business JSON: "12.90", never 12.9
    "xs:date": (date.isoformat, str),
    "xs:dateTime": (datetime.isoformat, _utc_in),
    "xs:boolean": (lambda v: "true" if v else "false", _boolean),
}


class Node:
    """One template element: writes its AAS JSON text for a business value, and reads it back."""

    id_short: str | None

    def write(self, value: Any, out: list[str]) -> None:
        raise NotImplementedError

    def write_value(self, value: Any, out: list[str]) -> None:
        """Write the ValueOnly JSON of the element ``write`` writes for ``value``."""
        raise NotImplementedError

    def decode(self, element: Json, path: str) -> Any:
        raise NotImplementedError


_quoted = encode_basestring  # str -> JSON string literal, escaped, non-ASCII kept as UTF-8 (C speed)


@dataclass(frozen=True)
class PropertyNode(Node):
    id_short: str | None
    value_type: str
    # Worked out once, in __post_init__: the JSON text before the value, the value's codec, whether it is text.
    _head: str = field(init=False, repr=False, compare=False)
    _encode: Callable[[Any], str] = field(init=False, repr=False, compare=False)
    _decode: Callable[[str], Any] = field(init=False, repr=False, compare=False)
    _text: bool = field(init=False, repr=False, compare=False)
    _value: Callable[[Any], str] = field(init=False, repr=False, compare=False)  # value -> its ValueOnly JSON

    def __post_init__(self) -> None:
        head = f'{{"idShort":{_quoted(self.id_short or "")},"modelType":"Property","valueType":"{self.value_type}",'
        object.__setattr__(self, "_head", head + '"value":')
        encode = _CODECS[self.value_type][0]
        object.__setattr__(self, "_encode", encode)
        object.__setattr__(self, "_decode", _CODECS[self.value_type][1])
        object.__setattr__(self, "_text", self.value_type == "xs:string")
        object.__setattr__(self, "_value", _value_writer(self.value_type, encode))

    def write_value(self, value: Any, out: list[str]) -> None:
        out.append(self._value(value))

    def write(self, value: Any, out: list[str]) -> None:
        if self._text:
            out.append(self._head + _quoted(value) + "}")
        else:  # the lexical forms of numbers, dates and booleans need no escaping
            out.append(self._head + '"' + self._encode(value) + '"}')

    def decode(self, element: Json, path: str) -> Any:
        _expect(element, "Property", path)
        if element.get("valueType") != self.value_type:
            raise _invalid(f"{path}.valueType", f"must be {self.value_type}")
        if "value" not in element:
            return None
        try:
            return self._decode(element["value"])
        except (TypeError, ValueError) as exc:
            raise _invalid(f"{path}.value", f"not a valid {self.value_type}: {exc}") from None


@dataclass(frozen=True)
class FileNode(Node):
    """A File element whose business form is ``{"sha256": ..., "contentType": ...}`` of a stored file."""

    id_short: str | None

    def write(self, value: Any, out: list[str]) -> None:
        out.append(f'{{"idShort":{_quoted(self.id_short or "")},"modelType":"File",'
                   f'"contentType":{_quoted(value.content_type)},"value":"{file_reference(value.sha256)}"}}')

    def write_value(self, value: Any, out: list[str]) -> None:
        out.append(f'{{"contentType":{_quoted(value.content_type)},"value":"{file_reference(value.sha256)}"}}')

    def decode(self, element: Json, path: str) -> Any:
        _expect(element, "File", path)
        digest = referenced_digest(str(element.get("value") or ""))
        if digest is None:
            raise _invalid(f"{path}.value", "must name a stored file by its sha256, "
                                            f"{FILE_REFERENCE_PREFIX}<64 lower-case hex digits>")
        return {"sha256": digest, "contentType": element.get("contentType")}


@dataclass(frozen=True)
class CollectionNode(Node):
    id_short: str | None
    children: tuple[Node, ...]
    by_id_short: dict[str, Node] = field(init=False, repr=False, compare=False)
    _head: str = field(init=False, repr=False, compare=False)
    # (attribute, child, head, encoder) per child; head and encoder only for Properties, whose writing is inlined
    _children: tuple[tuple[str, Node, str | None, Callable[[Any], str] | None], ...] = field(
        init=False, repr=False, compare=False)
    # (attribute, '"idShort":', value -> ValueOnly JSON for a Property, else None, child) per child
    _value_children: tuple[tuple[str, str, Callable[[Any], str] | None, Node], ...] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id_short", {c.id_short: c for c in self.children if c.id_short})
        head = '{"modelType":"SubmodelElementCollection"'
        if self.id_short is not None:
            head += f',"idShort":{_quoted(self.id_short)}'
        object.__setattr__(self, "_head", head)
        # Properties are most of a large record: inline their writing here (head, encoder) and save a call each.
        object.__setattr__(self, "_children", tuple(
            (to_snake(c.id_short or ""), c, c._head, None if c._text else c._encode)
            if isinstance(c, PropertyNode) else (to_snake(c.id_short or ""), c, None, None)
            for c in self.children))
        object.__setattr__(self, "_value_children", tuple(
            (to_snake(c.id_short or ""), _quoted(c.id_short or "") + ":",
             c._value if isinstance(c, PropertyNode) else None, c) for c in self.children))

    def write_elements(self, value: Any, out: list[str]) -> bool:
        """Write the elements of the validated record ``value``, comma-separated; False when there were none."""
        first = True
        for attribute, child, head, encode in self._children:
            item = getattr(value, attribute)
            if item is None:
                continue
            if not first:
                out.append(",")
            first = False
            if head is None:
                child.write(item, out)
            elif encode is None:
                out.append(f"{head}{_quoted(item)}}}")
            else:
                out.append(f'{head}"{encode(item)}"}}')
        return not first

    def write(self, value: Any, out: list[str]) -> None:
        out.append(self._head)
        out.append(',"value":[')
        mark = len(out)
        if self.write_elements(value, out):
            out.append("]}")
        else:  # AAS JSON allows no empty lists: leave the key out
            out[mark - 1] = "}"

    def write_value(self, value: Any, out: list[str]) -> None:
        """``{idShort: value, …}`` of the elements ``write_elements`` writes: the ValueOnly form of a collection
        or of a submodel."""
        out.append("{")
        first = True
        for attribute, key, property_value, child in self._value_children:
            item = getattr(value, attribute)
            if item is None:
                continue
            if property_value is not None:
                out.append((key if first else "," + key) + property_value(item))
            else:
                out.append(key if first else "," + key)
                child.write_value(item, out)
            first = False
        out.append("}")

    def decode_elements(self, elements: Any, path: str) -> Json:
        if not isinstance(elements, list):
            raise _invalid(path, "must be a list of submodel elements")
        out: Json = {}
        for index, element in enumerate(elements):
            where = f"{path}[{index}]"
            if not isinstance(element, dict):
                raise _invalid(where, "must be a submodel element object")
            id_short = element.get("idShort")
            if not isinstance(id_short, str) or (node := self.by_id_short.get(id_short)) is None:
                known = ", ".join(self.by_id_short)
                raise _invalid(f"{where}.idShort", f"'{id_short}' is not in the template; expected one of {known}")
            value = node.decode(element, where)
            if value is not None:
                out[id_short] = value
        return out

    def decode(self, element: Json, path: str) -> Any:
        _expect(element, "SubmodelElementCollection", path)
        return self.decode_elements(element.get("value", []), f"{path}.value")


@dataclass(frozen=True)
class ListNode(Node):
    id_short: str | None
    item: CollectionNode
    _head: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_head", f'{{"idShort":{_quoted(self.id_short or "")},'
                                          '"modelType":"SubmodelElementList","orderRelevant":true,'
                                          '"typeValueListElement":"SubmodelElementCollection"')

    def write(self, value: list[Any], out: list[str]) -> None:
        out.append(self._head)
        if value:
            out.append(',"value":')
            _write_array(value, self.item.write, out)
        out.append("}")

    def write_value(self, value: list[Any], out: list[str]) -> None:
        _write_array(value, self.item.write_value, out)

    def decode(self, element: Json, path: str) -> Any:
        _expect(element, "SubmodelElementList", path)
        items = element.get("value", [])
        if not isinstance(items, list):
            raise _invalid(f"{path}.value", "must be a list")
        return [self.item.decode(v, f"{path}.value[{i}]") for i, v in enumerate(items)]


def _write_array(items: list[Any], write_item: Callable[[Any, list[str]], None], out: list[str]) -> None:
    out.append("[")
    for index, item in enumerate(items):
        if index:
            out.append(",")
        write_item(item, out)
    out.append("]")


def _value_writer(value_type: str, encode: Callable[[Any], str]) -> Callable[[Any], str]:
    """value -> the JSON that ValueOnly gives for the lexical form ``encode`` writes (``typed_value``)."""
    if value_type == "xs:string":
        return _quoted
    if value_type == "xs:int":
        return str
    if value_type == "xs:boolean":
        return encode
    if value_type in ("xs:date", "xs:dateTime"):
        return lambda value: f'"{encode(value)}"'  # ISO 8601 text needs no escaping
    return lambda value: orjson.dumps(typed_value(encode(value), value_type)).decode()


def compile_elements(elements: list[model.SubmodelElement]) -> CollectionNode:
    """The node tree of a submodel's elements, read off its basyx template."""
    return CollectionNode(None, tuple(_compile(e) for e in elements))


def _compile(element: model.SubmodelElement) -> Node:
    if isinstance(element, model.Property):
        return PropertyNode(element.id_short, xs.XSD_TYPE_NAMES[element.value_type])
    if isinstance(element, model.File):
        return FileNode(element.id_short)
    if isinstance(element, model.SubmodelElementCollection):
        return CollectionNode(element.id_short, tuple(_compile(e) for e in element.value))
    if isinstance(element, model.SubmodelElementList):
        (item,) = list(element.value)
        if not isinstance(item, model.SubmodelElementCollection):
            raise TypeError(f"list {element.id_short}: only lists of collections are mapped")
        # basyx gives list items a generated idShort internally; in AAS JSON they have none (AASd-120)
        return ListNode(element.id_short, CollectionNode(None, tuple(_compile(e) for e in item.value)))
    raise TypeError(f"{type(element).__name__} {element.id_short} has no business mapping")


def _expect(element: Json, model_type: str, path: str) -> None:
    if element.get("modelType") != model_type:
        raise _invalid(f"{path}.modelType", f"must be {model_type} (the template's element kind)")


def _invalid(path: str, message: str) -> AasInvalid:
    return AasInvalid([{"path": path, "message": message}])

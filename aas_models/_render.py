"""One way in and one way out: business JSON -> canonical AAS JSON bytes, and back.

Rendering validates the record with its pydantic model, then writes the environment's JSON text from the
compiled templates (``_plan``). Equal records give equal bytes, so the
sha256 of the bytes identifies the content (idempotent create, duplicate detection on the channel).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic.alias_generators import to_snake

from aas_models import _ids
from aas_models._errors import AasInvalid, RecordInvalid
from aas_models._ids import FILE_REFERENCE_PREFIX
from aas_models._owner import Owner
from aas_models._templates import SubmodelDef
from aas_models._types import AssetTypeSpec, asset_type
from aas_models._validation import validate_environment
from aas_models.records._shared import Record, RuleViolations
from aas_models.serialization import Json

Span = tuple[int, int]  # [start, end) byte offsets
_FILE_REFERENCE = re.compile(rb'"value":"' + re.escape(FILE_REFERENCE_PREFIX.encode()) + rb'([0-9a-f]{64})"')


@dataclass(frozen=True, slots=True)
class SubmodelHead:
    """What a store indexes of a submodel, so that it need not parse the JSON again."""

    id: str
    id_short: str
    semantic_id: str


@dataclass(frozen=True)
class RenderedInstance:
    asset_type: str
    key: str
    revision: int
    shell_id: str
    shell_id_short: str
    global_asset_id: str
    submodels: tuple[SubmodelHead, ...]
    aas_json: bytes
    sha256: str
    model: Record = field(repr=False)  # the validated record the shell was rendered from
    spans: tuple[Span, ...] = field(repr=False, default=())  # [start, end) of the shell, then of each submodel

    @property
    def submodel_json(self) -> tuple[bytes, ...]:
        return tuple(self.aas_json[start:end] for start, end in self.spans[1:])

    @cached_property
    def value_json(self) -> tuple[bytes, tuple[Span, ...]]:
        """The ValueOnly form (Part 2 §11.4.3) of each submodel, as one JSON array, and where each lies in it;
        written from the record by the same templates as ``aas_json``, equal to ``value_only`` of each submodel."""
        parts = []
        for sm, plan in asset_type(self.asset_type).plans:
            out: list[str] = []
            plan.write_value(_source(sm, self.model), out)
            parts.append("".join(out).encode())
        return joined(parts)

    @cached_property
    def business_bytes(self) -> bytes:
        """``record`` as JSON bytes: equal to ``business_json`` of ``aas_json``, without reading it back."""
        return orjson.dumps(self.record)

    @property
    def submodel_ids(self) -> tuple[str, ...]:
        return tuple(sm.id for sm in self.submodels)

    @cached_property
    def file_digests(self) -> tuple[str, ...]:
        """sha256 of every file the instance refers to (File elements), in order of appearance, once each."""
        return referenced_files(self.aas_json)

    @cached_property
    def record(self) -> Json:
        """The canonical business JSON (UTC times as Z, money as strings); made on first use only."""
        return self.model.model_dump(mode="json", by_alias=True, exclude_none=True)


def referenced_files(aas_json: bytes) -> tuple[str, ...]:
    """sha256 of every file an instance we rendered refers to, in order of appearance, once each."""
    return tuple(dict.fromkeys(m.decode() for m in _FILE_REFERENCE.findall(aas_json)))


def map_file_references(aas_json: bytes, to: Callable[[str], str]) -> bytes:
    """``aas_json`` (as rendered here, or a part of it) with the value of each File element that names a stored
    file replaced by ``to(sha256)``: how a server shows where it serves the file. ``to`` must give JSON-safe text."""
    if FILE_REFERENCE_PREFIX.encode() not in aas_json:
        return aas_json
    return _FILE_REFERENCE.sub(lambda m: b'"value":"' + to(m.group(1).decode()).encode() + b'"', aas_json)


def render_instance(slug: str, business: bytes | str | Json, owner: Owner, *, revision: int = 1
                    ) -> RenderedInstance:
    """Validate a business record and render its instance shell and submodels (AAS v3.0 JSON)."""
    spec = asset_type(slug)
    return _render(spec, validate_record(spec, business), owner, revision)


def validate_record(spec: AssetTypeSpec, business: bytes | str | Json) -> Record:
    """The record checked against every rule of its model, or ``RecordInvalid`` naming each broken one."""
    try:
        if isinstance(business, dict):
            return spec.record_model.model_validate(business)
        return spec.record_model.model_validate_json(business)
    except ValidationError as exc:
        raise RecordInvalid(_field_errors(exc)) from None


def canonical_record(spec: AssetTypeSpec, business: bytes | str | Json) -> Json:
    """The record after validation, in its one canonical JSON form (UTC times, money as strings)."""
    return validate_record(spec, business).model_dump(mode="json", by_alias=True, exclude_none=True)


def _render(spec: AssetTypeSpec, record: Record, owner: Owner, revision: int) -> RenderedInstance:
    if revision < 1:
        raise ValueError("revisions count from 1")
    key = getattr(record, spec.key_attribute)
    shell_id = _ids.shell_id(owner, spec.slug, key)
    administration = {"version": "1", "revision": str(revision)}
    shell_id_short = _ids.instance_id_short(spec.shell_prefix, key)
    global_asset_id = _ids.global_asset_id(owner, spec.slug, key)
    heads = tuple(SubmodelHead(_ids.submodel_id(owner, spec.slug, key, sm.id_short), sm.id_short,
                               _ids.semantic_id(owner, sm.semantic_name)) for sm, _ in spec.plans)
    submodel_ids = tuple(head.id for head in heads)
    shell: Json = {
        "idShort": shell_id_short, "modelType": "AssetAdministrationShell",
        "id": shell_id, "administration": administration,
        "derivedFrom": _model_reference("AssetAdministrationShell", _ids.type_shell_id(owner, spec.slug)),
        "assetInformation": {"assetKind": "Instance", "globalAssetId": global_asset_id,
                             "assetType": _ids.type_shell_id(owner, spec.slug)},
        "submodels": [_model_reference("Submodel", sm_id) for sm_id in submodel_ids],
    }
    parts = [orjson.dumps(shell)]
    for (sm, plan), head in zip(spec.plans, heads, strict=True):
        header = orjson.dumps({
            "idShort": sm.id_short, "modelType": "Submodel", "id": head.id, "administration": administration,
            "semanticId": _global_reference(head.semantic_id),
        }).decode()
        out = [header[:-1], ',"submodelElements":[']  # reopen the object to add its elements
        if plan.write_elements(_source(sm, record), out):
            out.append("]}")
        else:  # no elements: AAS JSON allows no empty list, so the key goes
            out[-1] = "}"
        parts.append("".join(out).encode())
    blob, spans = _environment(parts)
    return RenderedInstance(spec.slug, key, revision, shell_id, shell_id_short, global_asset_id, heads, blob,
                            hashlib.sha256(blob).hexdigest(), record, spans)


def _source(submodel: SubmodelDef, record: Record) -> Any:
    """The part of the record a submodel shows: all of it, or the field its template names."""
    return record if submodel.source is None else getattr(record, to_snake(submodel.source))


_SHELLS_OPEN, _SUBMODELS_OPEN, _CLOSE = b'{"assetAdministrationShells":[', b'],"submodels":[', b"]}"


def _environment(parts: list[bytes]) -> tuple[bytes, tuple[Span, ...]]:
    """The environment of one shell (``parts[0]``) and its submodels, and where each part lies in it."""
    spans, offset = [], len(_SHELLS_OPEN)
    for index, part in enumerate(parts):
        spans.append((offset, offset + len(part)))
        offset += len(part) + (len(_SUBMODELS_OPEN) if index == 0 else 1)
    return _SHELLS_OPEN + parts[0] + _SUBMODELS_OPEN + b",".join(parts[1:]) + _CLOSE, tuple(spans)


def joined(parts: list[bytes]) -> tuple[bytes, tuple[Span, ...]]:
    """``parts`` as one JSON array, and where each lies in it."""
    spans, offset = [], 1
    for part in parts:
        spans.append((offset, offset + len(part)))
        offset += len(part) + 1
    return b"[" + b",".join(parts) + b"]", tuple(spans)


def instance_from_aas(slug: str, aas: bytes | str | Json, owner: Owner, *, revision: int = 1) -> RenderedInstance:
    """Take an instance given as AAS JSON: check the metamodel strictly, read the record, render it canonically.

    The stored bytes are always our canonical rendering, under ``owner``'s identifiers; the incoming shell's
    own ids, descriptions or extra elements are not kept (an element the template lacks is refused).
    """
    spec = asset_type(slug)
    env = _parse(aas)
    validate_environment(env)
    business = _business_from_env(spec, env)
    return _render(spec, validate_record(spec, business), owner, revision)


def business_json(slug: str, aas_json: bytes | Json) -> Json:
    """The business record held in an instance environment we rendered (stored bytes: no re-validation)."""
    env = orjson.loads(aas_json) if isinstance(aas_json, bytes | str) else aas_json
    return _business_from_env(asset_type(slug), env)


def _business_from_env(spec: AssetTypeSpec, env: Json) -> Json:
    shells = env.get("assetAdministrationShells") or []
    if len(shells) != 1:
        raise AasInvalid([{"path": "assetAdministrationShells",
                           "message": f"must hold exactly one shell (the instance), found {len(shells)}"}])
    by_id_short = {sm.get("idShort"): (i, sm) for i, sm in enumerate(env.get("submodels") or [])}
    record: Json = {}
    for sm, plan in spec.plans:
        if sm.id_short not in by_id_short:
            raise AasInvalid([{"path": "submodels", "message": f"a submodel with idShort '{sm.id_short}' "
                                                               f"is required for {spec.slug}"}])
        index, element = by_id_short[sm.id_short]
        values = plan.decode_elements(element.get("submodelElements", []), f"submodels[{index}].submodelElements")
        if sm.source is None:
            record.update(values)
        else:
            record[sm.source] = values
    return record


def _parse(aas: bytes | str | Json) -> Json:
    if isinstance(aas, dict):
        return aas
    try:
        env = orjson.loads(aas)
    except orjson.JSONDecodeError as exc:
        raise AasInvalid([{"path": "$", "message": f"not valid JSON: {exc}"}]) from None
    if not isinstance(env, dict):
        raise AasInvalid([{"path": "$", "message": "must be an AAS environment object"}])
    return env


def _global_reference(value: str) -> Json:
    return {"type": "ExternalReference", "keys": [{"type": "GlobalReference", "value": value}]}


def _model_reference(key_type: str, value: str) -> Json:
    return {"type": "ModelReference", "keys": [{"type": key_type, "value": value}]}


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for error in exc.errors(include_url=False):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, RuleViolations):  # rules across fields carry their own field paths
            out += [{"field": field, "message": message} for field, message in cause.errors]
        else:
            out.append(_field_error(error))
    return out


def _field_error(error: Any) -> dict[str, str]:
    """A pydantic error as ``{"field": "items[0].ingredients", "message": ...}``."""
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = error["msg"]
    if error["type"] == "json_invalid":
        path, message = "(body)", f"not valid JSON: {error.get('ctx', {}).get('error', message)}"
    elif error["type"] == "extra_forbidden":
        message = "unknown field; remove it or check its spelling (names are camelCase)"
    elif error["type"] == "missing":
        message = "is required"
    return {"field": path or "(body)", "message": message.removeprefix("Value error, ")}

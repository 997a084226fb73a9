"""Published assets: asset-type metadata as a connector publishes it (DESIGN §3), searchable in the catalog.

Only metadata is accepted, never values: submodels must be templates (``kind: Template``), and the type
shell, when given, must be of ``assetKind: Type``. Both are checked against the AAS v3.0 metamodel with
``aas_models.validate_environment`` before they are stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from aas_models import AasInvalid, validate_environment
from abm_portal.clock import utcnow
from abm_portal.errors import Conflict, Forbidden, NotFound, ValidationFailed
from abm_portal.models import Asset, Organisation
from abm_portal.services import audit, rows, text_search
from abm_portal.services.actors import CONNECTOR, ORG_ADMIN, Actor

VISIBILITIES = ("public", "private")
MAX_SEMANTIC_IDS = 50
MAX_SUBMODELS = 50
MAX_METADATA_BYTES = 2 * 1024 * 1024
MAX_LISTED = 200
_ASSET_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_ASSET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


@dataclass(frozen=True)
class PublishedAsset:
    """An asset as callers see it: the stored metadata plus the publisher's name."""

    id: str
    org_id: str
    org_name: str
    name: str
    description: str
    asset_type: str
    semantic_ids: list[str]
    submodels: list[dict[str, Any]]
    type_shell: dict[str, Any] | None
    global_asset_id: str | None
    owner: str | None
    key_field: str | None
    versioned: bool | None
    visibility: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Asset, org_name: str) -> PublishedAsset:
        return cls(id=row.id, org_id=row.org_id, org_name=org_name, name=row.name, description=row.description,
                   asset_type=row.asset_type, semantic_ids=list(row.semantic_ids), submodels=list(row.submodels),
                   type_shell=row.type_shell, global_asset_id=row.global_asset_id, owner=row.owner,
                   key_field=row.key_field, versioned=row.versioned, visibility=row.visibility,
                   created_at=row.created_at, updated_at=row.updated_at)


def publish_asset(db: Session, actor: Actor, data: dict[str, Any]) -> PublishedAsset:
    """Publish asset-type metadata. ``data`` holds name, description, asset_type, semantic_ids, visibility and
    optionally id (URL-safe, chosen by the publisher), submodels (templates), type_shell, global_asset_id,
    owner, key_field and versioned."""
    org_id = actor.require(ORG_ADMIN, CONNECTOR, to="publish assets")
    fields = _checked(data)
    asset_id = data.get("id")
    if asset_id is not None:
        if not isinstance(asset_id, str) or not _ASSET_ID.match(asset_id):
            raise ValidationFailed("id", "An asset id is 1–128 letters, digits and . _ ~ - (it goes into URLs); "
                                         "leave it out to let the portal choose one. The type shell's IRI "
                                         "belongs in typeShell.id.")
        if db.get(Asset, asset_id) is not None:
            raise Conflict(f"The asset id {asset_id} is taken; choose another or leave it out.", field="id")
    _refuse_second_live_type(db, org_id, fields["asset_type"], None)
    asset = Asset(org_id=org_id, **fields)
    if asset_id:
        asset.id = asset_id
    db.add(asset)
    audit.record(db, actor, "asset.published", f"asset {asset.id} ({asset.name})", org_id=org_id,
                 after=asset.visibility, detail={"assetType": asset.asset_type})
    db.commit()
    return PublishedAsset.of(asset, _org_name(db, org_id))


def update_asset(db: Session, actor: Actor, asset_id: str, data: dict[str, Any]) -> PublishedAsset:
    """Replace the metadata of one of the actor's published assets (the same fields as ``publish_asset``)."""
    org_id = actor.require(ORG_ADMIN, CONNECTOR, to="change published assets")
    asset = _own_live_asset(db, actor, asset_id, org_id)
    fields = _checked(data)
    _refuse_second_live_type(db, org_id, fields["asset_type"], asset.id)
    changed = sorted(k for k, v in fields.items() if getattr(asset, k) != v)
    before = asset.visibility
    for key, value in fields.items():
        setattr(asset, key, value)
    asset.updated_at = utcnow()
    db.add(asset)
    audit.record(db, actor, "asset.updated", f"asset {asset.id} ({asset.name})", org_id=org_id,
                 before=before, after=asset.visibility, detail={"changed": changed})
    db.commit()
    return PublishedAsset.of(asset, _org_name(db, org_id))


def unpublish_asset(db: Session, actor: Actor, asset_id: str) -> None:
    """Take an asset out of the catalog. Subscriptions to it keep their state and run to their end."""
    org_id = actor.require(ORG_ADMIN, CONNECTOR, to="unpublish assets")
    asset = _own_live_asset(db, actor, asset_id, org_id)
    asset.deleted_at = utcnow()
    db.add(asset)
    audit.record(db, actor, "asset.unpublished", f"asset {asset.id} ({asset.name})", org_id=org_id,
                 before=asset.visibility, after="unpublished")
    db.commit()


def get_asset(db: Session, actor: Actor, asset_id: str) -> PublishedAsset:
    """A live asset the actor may see: any public one, or a private one of its own organisation."""
    found = db.exec(select(Asset, Organisation.name).join(Organisation, col(Organisation.id) == Asset.org_id)
                    .where(Asset.id == asset_id, col(Asset.deleted_at).is_(None), _visible_to(actor))).first()
    if found is None:
        raise NotFound("There is no such asset, or it is not published for your organisation.")
    return PublishedAsset.of(*found)


def search_assets(db: Session, actor: Actor, q: str | None, org: str | None) -> list[PublishedAsset]:
    """Live assets the actor may see whose name, description, asset type, semantic ids or publisher's name
    contain every term of ``q``; only those of organisation ``org`` (an id) when given."""
    query = (select(Asset, Organisation.name).join(Organisation, col(Organisation.id) == Asset.org_id)
             .where(col(Asset.deleted_at).is_(None), _visible_to(actor),
                    text_search.every_term_matches(q, [Asset.name, Asset.description, Asset.asset_type,
                                                       Organisation.name, Asset.semantic_ids])))
    if org:
        query = query.where(Asset.org_id == org)
    found = db.exec(query.order_by(col(Asset.name), col(Asset.id)).limit(MAX_LISTED)).all()
    return [PublishedAsset.of(row, org_name) for row, org_name in found]


def _visible_to(actor: Actor) -> Any:
    if actor.org_id is None:
        return col(Asset.visibility) == "public"
    return or_(col(Asset.visibility) == "public", col(Asset.org_id) == actor.org_id)


def _own_live_asset(db: Session, actor: Actor, asset_id: str, org_id: str) -> Asset:
    asset = get_asset(db, actor, asset_id)  # NotFound for what the actor may not even see
    if asset.org_id != org_id:
        raise Forbidden(f"“{asset.name}” is published by {asset.org_name}; only they can change it.")
    row = rows.locked(db, Asset, asset_id)
    assert row is not None
    return row


def _refuse_second_live_type(db: Session, org_id: str, asset_type: str, except_id: str | None) -> None:
    query = select(Asset.id).where(Asset.org_id == org_id, Asset.asset_type == asset_type,
                                   col(Asset.deleted_at).is_(None))
    if except_id is not None:
        query = query.where(Asset.id != except_id)
    existing = db.exec(query).first()
    if existing is not None:
        raise Conflict(f"Your organisation publishes the asset type {asset_type} already (asset {existing}); "
                       "update that asset, or unpublish it first.", field="assetType")


def _org_name(db: Session, org_id: str) -> str:
    org = db.get(Organisation, org_id)
    return org.name if org else ""


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    """The column values of an asset from publication ``data``, every rule checked."""
    name = _text(data, "name", "name", 200, required=True)
    asset_type = _text(data, "asset_type", "assetType", 64, required=True)
    if not _ASSET_TYPE.match(asset_type):
        raise ValidationFailed("assetType", f"“{asset_type}” is not an asset type slug: use lower-case letters, "
                                            "digits and '-', e.g. sales-order-status.")
    visibility = data.get("visibility") or "public"
    if visibility not in VISIBILITIES:
        raise ValidationFailed("visibility", "Visibility is public or private.")
    submodels = _submodel_templates(data.get("submodels"))
    type_shell = _type_shell(data.get("type_shell"))
    if submodels or type_shell:
        _check_metamodel(type_shell, submodels)
    semantic_ids = _semantic_ids(data.get("semantic_ids"), submodels)
    versioned = data.get("versioned")
    if versioned is not None and not isinstance(versioned, bool):
        raise ValidationFailed("versioned", "versioned is true or false.")
    fields = {"name": name, "description": _text(data, "description", "description", 4000),
              "asset_type": asset_type, "semantic_ids": semantic_ids, "submodels": submodels,
              "type_shell": type_shell,
              "global_asset_id": _text(data, "global_asset_id", "globalAssetId", 2000) or None,
              "owner": _text(data, "owner", "owner", 64) or None,
              "key_field": _text(data, "key_field", "keyField", 64) or None, "versioned": versioned,
              "visibility": visibility}
    if len(json.dumps(fields, default=str)) > MAX_METADATA_BYTES:
        raise ValidationFailed("submodels", "The metadata exceeds 2 MB; publish templates without values.")
    return fields


def _text(data: dict[str, Any], key: str, field: str, limit: int, *, required: bool = False) -> str:
    value = data.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(field, f"{field} must be text.")
    if len(value) > limit:
        raise ValidationFailed(field, f"Shorten {field} to at most {limit} characters.")
    value = value.strip()
    if required and not value:
        raise ValidationFailed(field, f"Enter the asset's {field}.")
    return value


def _semantic_ids(value: Any, submodels: list[dict[str, Any]]) -> list[str]:
    if value is None or value == []:
        return [key["value"] for sm in submodels for key in (sm.get("semanticId") or {}).get("keys", [])[:1]]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed("semanticIds", "semanticIds is a list of IRIs.")
    if len(value) > MAX_SEMANTIC_IDS:
        raise ValidationFailed("semanticIds", f"Give at most {MAX_SEMANTIC_IDS} semantic ids.")
    for iri in value:
        if not _IRI.match(iri) or len(iri) > 2000:
            raise ValidationFailed("semanticIds", f"“{iri}” is not an IRI; write it like "
                                                  "https://omis.example/ids/sm/SalesOrderStatus/1/0.")
    return list(dict.fromkeys(value))


def _submodel_templates(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(sm, dict) for sm in value):
        raise ValidationFailed("submodels", "submodels is a list of AAS Submodel objects (JSON).")
    if len(value) > MAX_SUBMODELS:
        raise ValidationFailed("submodels", f"Publish at most {MAX_SUBMODELS} submodel templates.")
    for i, sm in enumerate(value):
        if sm.get("kind") != "Template":
            raise ValidationFailed(f"submodels[{i}].kind", "Publish submodel templates (kind: Template) only: the "
                                                            "portal holds metadata, never values.")
    return value


def _type_shell(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed("typeShell", "typeShell is an AAS AssetAdministrationShell object (JSON).")
    if (value.get("assetInformation") or {}).get("assetKind") != "Type":
        raise ValidationFailed("typeShell.assetInformation.assetKind",
                               "Publish the type shell (assetKind: Type), never an instance shell.")
    return value


def _check_metamodel(type_shell: dict[str, Any] | None, submodels: list[dict[str, Any]]) -> None:
    """AAS v3.0 metamodel constraints, checked by aas-core3 (strict)."""
    env = {"assetAdministrationShells": [type_shell] if type_shell else [], "submodels": submodels}
    try:
        validate_environment(env)
    except AasInvalid as exc:
        first = exc.errors[0] if exc.errors else {"path": "", "message": str(exc)}
        path = str(first.get("path") or "")
        field = "typeShell" if path.startswith(".assetAdministrationShells") else "submodels"
        problems = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in exc.errors[:5])
        raise ValidationFailed(field, f"The metadata breaks the AAS v3.0 metamodel: {problems}") from None

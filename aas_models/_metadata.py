"""Asset-type metadata: the type shell (assetKind Type) and its submodel templates, built with basyx.

This is what a provider publishes to the portal (DESIGN §3): name, description, owner, templates and
semantic ids, and no values.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import orjson
from basyx.aas import model
from basyx.aas.adapter.json import AASToJsonEncoder

from aas_models import _ids
from aas_models._owner import Owner
from aas_models._types import AssetTypeSpec, asset_type


def type_objects(spec: AssetTypeSpec, owner: Owner) -> tuple[model.AssetAdministrationShell, list[model.Submodel]]:
    """The type shell and its submodel templates as basyx objects (the model of record)."""
    templates = [
        model.Submodel(
            _ids.template_id(owner, spec.slug, sm.id_short), sm.elements(), id_short=sm.id_short,
            description=model.MultiLanguageTextType({"en": sm.description}),
            administration=model.AdministrativeInformation(version="1", revision="0"),
            semantic_id=model.ExternalReference((model.Key(model.KeyTypes.GLOBAL_REFERENCE,
                                                           _ids.semantic_id(owner, sm.semantic_name)),)),
            kind=model.ModellingKind.TEMPLATE,
        )
        for sm in spec.submodels
    ]
    shell = model.AssetAdministrationShell(
        model.AssetInformation(model.AssetKind.TYPE, global_asset_id=_ids.global_asset_id(owner, spec.slug)),
        _ids.type_shell_id(owner, spec.slug), id_short=f"{spec.shell_prefix}Type",
        description=model.MultiLanguageTextType({"en": spec.description}),
        administration=model.AdministrativeInformation(version="1", revision="0"),
        submodel={model.ModelReference.from_referable(sm) for sm in templates},
    )
    return shell, templates


@lru_cache(maxsize=64)
def _type_environment_bytes(slug: str, owner: Owner) -> bytes:
    shell, templates = type_objects(asset_type(slug), owner)
    env = json.loads(json.dumps({"assetAdministrationShells": [shell], "submodels": templates}, cls=AASToJsonEncoder))
    # basyx keeps submodel references in a set; sort them so the published bytes are stable
    env["assetAdministrationShells"][0]["submodels"].sort(key=lambda ref: ref["keys"][0]["value"])
    return orjson.dumps(env)


def type_environment(slug: str, owner: Owner) -> dict[str, Any]:
    """The type shell and submodel templates of ``slug`` as an AAS v3.0 JSON environment."""
    return orjson.loads(_type_environment_bytes(slug, owner))  # type: ignore[no-any-return]


def asset_type_metadata(slug: str, owner: Owner) -> dict[str, Any]:
    """What a connector publishes to the portal for ``slug``: identity, semantic ids and templates, no values."""
    spec = asset_type(slug)
    env = type_environment(slug, owner)
    shell = env["assetAdministrationShells"][0]
    return {
        "id": shell["id"], "assetType": spec.slug, "name": spec.name, "description": spec.description,
        "owner": owner.org, "globalAssetId": shell["assetInformation"]["globalAssetId"],
        "versioned": spec.versioned, "keyField": spec.key_field,
        "semanticIds": [sm["semanticId"]["keys"][0]["value"] for sm in env["submodels"]],
        "submodels": env["submodels"], "typeShell": shell,
    }

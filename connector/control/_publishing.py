"""Publishing this AAdSys's asset types at the portal: their metadata (name, submodel templates, semantic ids,
the type shell; never values), made once and compared, so that publishing twice makes nothing new.

Apart from the control plane's loop so that ``aadsys connector publish`` imports only this, the portal client
and the asset type templates.
"""

from __future__ import annotations

import logging
from typing import Any

from aas_models import Owner, asset_type_metadata
from connector.control._portal import PortalClient

log = logging.getLogger("connector.control")
COMPARED_METADATA = ("name", "description", "assetType", "semanticIds", "submodels", "typeShell", "globalAssetId",
                     "owner", "keyField", "versioned")


def metadata_to_publish(slug: str, owner: Owner) -> dict[str, Any]:
    """What we publish for ``slug``: ``asset_type_metadata`` without its IRI id, publicly listed."""
    return {**{k: v for k, v in asset_type_metadata(slug, owner).items() if k != "id"}, "visibility": "public"}


async def publish_asset_types(portal: PortalClient, owner: Owner, org_id: str, slugs: frozenset[str]
                              ) -> dict[str, str]:
    """Publish ``slugs`` where missing or different (publishing twice makes nothing new); returns asset type ->
    portal asset id."""
    existing = {a["assetType"]: a for a in await portal.assets(org=org_id)}
    ids = {}
    for slug in sorted(slugs):
        body = metadata_to_publish(slug, owner)
        found = existing.get(slug)
        if found is None:
            found = await portal.publish(body)
            log.info("published asset type %s at the portal (%s)", slug, found["id"])
        elif any(found.get(k) != body.get(k) for k in COMPARED_METADATA):
            found = await portal.update_asset(found["id"], body)
            log.info("updated asset type %s at the portal (%s)", slug, found["id"])
        ids[slug] = found["id"]
    return ids

"""Registration of the asset types this AAdSys holds, from the ``aas_models`` vocabulary."""

from __future__ import annotations

import orjson

from aadsys.core.audit import record
from aadsys.core.db import Database
from aadsys.core.tables import AssetTypeRow
from aas_models import ASSET_TYPES, Owner, type_environment


def register_asset_types(db: Database, owner: Owner, slugs: list[str] | None = None) -> list[str]:
    """Insert or refresh the type shells; returns the slugs registered. Idempotent."""
    chosen = slugs or sorted(ASSET_TYPES)
    with db.write_session() as session:
        for slug in chosen:
            spec = ASSET_TYPES[slug]
            env = type_environment(slug, owner)
            blob = orjson.dumps(env, option=orjson.OPT_SORT_KEYS)
            row = session.get(AssetTypeRow, slug)
            if row is None:
                row = AssetTypeRow(slug=slug, name=spec.name, description=spec.description, key_field=spec.key_field,
                                   versioned=spec.versioned, type_shell_id=env["assetAdministrationShells"][0]["id"],
                                   type_environment=blob)
                record(session, actor="system", action="asset_type.registered", subject=slug)
            elif row.type_environment != blob:
                row.type_environment = blob
                row.type_shell_id = env["assetAdministrationShells"][0]["id"]
            session.add(row)
        session.commit()
    return chosen

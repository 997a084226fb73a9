"""Publish, update, unpublish and search asset-type metadata."""

from __future__ import annotations

from fastapi import APIRouter, Response

from abm_portal.api.deps import CurrentActor, DbSession
from abm_portal.api.problems import problem_responses
from abm_portal.api.schemas import AssetList, AssetMetadataBody, AssetPublic, AssetPublicationBody
from abm_portal.services import assets

router = APIRouter(prefix="/api/v1/assets", tags=["assets"], responses=problem_responses(401, 403, 422))


@router.post("", status_code=201, summary="Publish an asset type's metadata",
             responses=problem_responses(400, 409, s409="Your organisation publishes this asset type already"))
def publish(body: AssetPublicationBody, response: Response, db: DbSession, actor: CurrentActor) -> AssetPublic:
    """Accepts what ``aas_models.asset_type_metadata`` returns (without its IRI ``id``), plus a visibility.
    Org admins and connectors publish; one live asset per organisation and asset type."""
    published = assets.publish_asset(db, actor, body.model_dump(exclude_unset=False))
    response.headers["Location"] = f"/api/v1/assets/{published.id}"
    return AssetPublic.model_validate(published)


@router.put("/{asset_id}", summary="Replace the metadata of one of your assets",
            responses=problem_responses(400, 404, 409, s409="Your organisation publishes this asset type already"))
def update(asset_id: str, body: AssetMetadataBody, db: DbSession, actor: CurrentActor) -> AssetPublic:
    return AssetPublic.model_validate(assets.update_asset(db, actor, asset_id, body.model_dump()))


@router.delete("/{asset_id}", status_code=204, summary="Unpublish one of your assets",
               responses=problem_responses(404))
def unpublish(asset_id: str, db: DbSession, actor: CurrentActor) -> Response:
    """The asset leaves the catalog; subscriptions to it keep their state and run to their end."""
    assets.unpublish_asset(db, actor, asset_id)
    return Response(status_code=204)


@router.get("", summary="Search the catalog")
def search(db: DbSession, actor: CurrentActor, q: str | None = None, org: str | None = None) -> AssetList:
    """Every whitespace-separated term of ``q`` must occur (case-insensitively) in the name, description, asset
    type, semantic ids or publisher's name. ``org`` keeps one organisation's assets (by id). Private assets
    are listed for their own organisation only."""
    return AssetList(items=[AssetPublic.model_validate(a) for a in assets.search_assets(db, actor, q, org)])


@router.get("/{asset_id}", summary="One asset's metadata", responses=problem_responses(404))
def get(asset_id: str, db: DbSession, actor: CurrentActor) -> AssetPublic:
    return AssetPublic.model_validate(assets.get_asset(db, actor, asset_id))

"""The connector registers itself; partners look up an organisation's endpoint and public keys."""

from __future__ import annotations

from fastapi import APIRouter

from abm_portal.api.deps import CurrentActor, DbSession
from abm_portal.api.problems import problem_responses
from abm_portal.api.schemas import ConnectorBody, OrganisationPublic
from abm_portal.models import Organisation
from abm_portal.services import organisations
from abm_portal.services.actors import Actor

router = APIRouter(prefix="/api/v1", tags=["organisations"], responses=problem_responses(401, 403, 422))


def _public(org: Organisation, actor: Actor) -> OrganisationPublic:
    shown = OrganisationPublic.model_validate(org)
    return shown if org.id == actor.org_id else shown.model_copy(update={"client_id": None})


@router.put("/connector", summary="Register the connector's endpoint and public keys",
            responses=problem_responses(400))
def register_connector(body: ConnectorBody, db: DbSession, actor: CurrentActor) -> OrganisationPublic:
    """The connector calls this on start with the keys it made (DESIGN §4); an org admin may call it too."""
    org = organisations.update_connector(db, actor, endpoint_url=body.endpoint_url, signing_key=body.signing_key,
                                         encryption_key=body.encryption_key)
    return _public(org, actor)


@router.get("/organisations/{org_id}", summary="An organisation's connector endpoint and public keys",
            responses=problem_responses(404))
def get_organisation(org_id: str, db: DbSession, actor: CurrentActor) -> OrganisationPublic:
    """How a consumer's connector finds its provider: the endpoint to connect to and the keys to check with."""
    return _public(organisations.get_organisation(db, actor, org_id), actor)

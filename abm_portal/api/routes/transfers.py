"""Historical transfer jobs: each side's report, and the job's state."""

from __future__ import annotations

from fastapi import APIRouter

from abm_portal.api.deps import CurrentActor, DbSession
from abm_portal.api.problems import problem_responses
from abm_portal.api.schemas import TransferPublic, TransferReportBody
from abm_portal.services import transfers

router = APIRouter(prefix="/api/v1/transfers", tags=["transfers"], responses=problem_responses(401, 403, 422))


@router.post("/{transfer_id}/reports", summary="Report what your side sent or stored",
             responses=problem_responses(400, 404, 409))
def report(transfer_id: str, body: TransferReportBody, db: DbSession, actor: CurrentActor) -> TransferPublic:
    """The job completes only when both sides reported the same count and digest; a difference fails it with a
    reason. A side's report is final; sending the same one again is harmless."""
    job = transfers.report(db, actor, transfer_id, side=body.side, count=body.count, digest=body.digest)
    return TransferPublic.model_validate(job)


@router.get("/{transfer_id}", summary="One transfer job", responses=problem_responses(404))
def get_transfer(transfer_id: str, db: DbSession, actor: CurrentActor) -> TransferPublic:
    return TransferPublic.model_validate(transfers.get_transfer(db, actor, transfer_id))

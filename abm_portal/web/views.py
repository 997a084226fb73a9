"""What pages show, as plain dicts built from the service layer's models (presentation only).

Templates read only these shapes, so a change in a model touches one function here, not the templates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from abm_portal.services import lifecycle, throttle
from abm_portal.services.actors import Actor
from abm_portal.services.attention import OrganisationAttention, PortalAttention
from abm_portal.services.lifecycle import SubscriptionState
from abm_portal.web.timestamps import when


def id_of(model: Any) -> str:
    return str(model.id)


def _value(v: Any) -> Any:
    """Enum members as their value, everything else as is."""
    return getattr(v, "value", v)


def client_id_of(org: Any) -> str | None:
    return getattr(org, "client_id", None)


def organisation(org: Any) -> dict[str, Any]:
    return {"id": id_of(org), "name": org.name, "description": org.description or "",
            "endpoint_url": org.endpoint_url, "signing_key": org.signing_key, "encryption_key": org.encryption_key,
            "client_id": client_id_of(org)}


def organisation_summary(org: Any) -> dict[str, Any]:
    return {"id": id_of(org), "name": org.name, "description": org.description or "",
            "endpoint_url": org.endpoint_url}


def token(t: Any) -> dict[str, Any]:
    return {"id": id_of(t), "name": t.name, "created_at": t.created_at,
            "last_used_at": getattr(t, "last_used_at", None),
            "revoked": bool(getattr(t, "revoked_at", None) or getattr(t, "revoked", False))}


def asset(a: Any, actor: Actor) -> dict[str, Any]:
    return {"id": id_of(a), "name": a.name, "description": a.description or "", "org_id": str(a.org_id),
            "org_name": a.org_name, "asset_type": a.asset_type, "semantic_ids": list(a.semantic_ids or []),
            "submodels": [_submodel_name(sm) for sm in getattr(a, "submodels", None) or []],
            "visibility": _value(a.visibility),
            "own": str(a.org_id) == str(actor.org_id)}


def _submodel_name(template: Any) -> str:
    """A submodel template (AAS JSON) by its idShort, as the asset page lists them."""
    if isinstance(template, dict):
        return str(template.get("idShort") or template.get("id") or "submodel")
    return str(template)


def asset_publication(form: dict[str, str]) -> dict[str, Any]:
    return {"name": form["name"], "description": form["description"], "asset_type": form["asset_type"],
            "semantic_ids": [form["semantic_id"]] if form["semantic_id"] else [], "visibility": form["visibility"]}


def transfers_by_subscription(jobs: Iterable[Any]) -> dict[str, Any]:
    """The newest transfer job of each subscription."""
    latest: dict[str, Any] = {}
    for job in jobs:
        key = str(job.subscription_id)
        if key not in latest or job.created_at >= latest[key].created_at:
            latest[key] = job
    return latest


def transfer(job: Any) -> dict[str, Any]:
    sent, received = job.provider_count, job.consumer_count
    expected = getattr(job, "expected_count", None) or sent
    progress = None
    if expected:
        progress = min(100, round(100 * (received or 0) / expected))
    return {"state": _value(job.state), "sent": sent, "received": received, "progress": progress,
            "reason": getattr(job, "reason", None)}


def progress(p: Any) -> dict[str, Any]:
    """A real-time subscription's reports: sent (provider), stored (consumer), expired, and whether they agree."""
    provider, consumer = p.provider, p.consumer
    reported = [side.reported_at for side in (provider, consumer) if side is not None]
    return {"reported": bool(reported),
            "sent": provider.count if provider else None, "stored": consumer.count if consumer else None,
            "expired": provider.expired if provider else None,
            "last_seq_sent": provider.last_seq if provider else None,
            "last_seq_stored": consumer.last_seq if consumer else None,
            "waiting_for": None if provider and consumer else ("consumer" if provider else "provider"),
            "reconciled": bool(p.reconciled), "reported_at": max(reported) if reported else None}


def grant_text(s: Any, state: str) -> str:
    if state not in lifecycle.GRANT_STATES:
        return "—"
    now = datetime.now(UTC)
    valid_to = s.valid_to if s.valid_to.tzinfo else s.valid_to.replace(tzinfo=UTC)
    valid_from = s.valid_from if s.valid_from.tzinfo else s.valid_from.replace(tzinfo=UTC)
    if now >= valid_to:
        return "expired"
    if now < valid_from:
        return f"valid from {when(valid_from)}"
    return f"valid until {when(valid_to)}"


def nothing_flows(state: str, role: str, partner: str, job: Any | None, reports: Any | None) -> str | None:
    """What the progress column says when no data has moved and none will yet: the state's reason, not a
    promise ("no transfer yet") that a rejected or withdrawn request can never keep."""
    ran = job is not None or (reports is not None and (reports.provider or reports.consumer))
    if state == SubscriptionState.requested:
        return "nothing flows before it is approved" + (f": waiting for {partner}" if role == "consumer"
                                                         else ": waiting for your decision")
    if state == SubscriptionState.rejected:
        return "none: the request was rejected, so nothing is exchanged"
    if state == SubscriptionState.cancelled and not ran:
        return "none: the request was withdrawn before anything was exchanged"
    return None


def subscription(s: Any, job: Any | None, role: str, reports: Any | None = None) -> dict[str, Any]:
    state = str(_value(s.state))
    partner = s.provider_name if role == "consumer" else s.consumer_name
    return {"id": id_of(s), "asset_id": str(s.asset_id), "asset_name": s.asset_name,
            "provider_name": s.provider_name, "consumer_name": s.consumer_name, "mode": str(_value(s.mode)),
            "state": state, "valid_from": s.valid_from, "valid_to": s.valid_to, "requested_at": s.created_at,
            "reason": s.reason, "grant_text": grant_text(s, state),
            "transfer": transfer(job) if job is not None else None,
            "progress": progress(reports) if reports is not None else None,
            "nothing_flows": nothing_flows(state, role, partner, job, reports),
            "can_cancel": role == "consumer" and lifecycle.allows(state, SubscriptionState.cancelled),
            "can_revoke": role == "provider" and lifecycle.allows(state, SubscriptionState.revoked)}


def audit_entry(e: Any) -> dict[str, Any]:
    """An audit entry as people read it: the names ``services.audit_names`` found for its actor and subject."""
    return {"at": e.at, "actor": e.actor_name, "action": e.action, "subject": e.subject_name,
            "recorded_as": f"{e.entry.actor} · {e.entry.subject}", "before": e.entry.before, "after": e.entry.after}


def _partner(s: Any, actor: Actor) -> str:
    return str(s.consumer_name if s.provider_org_id == actor.org_id else s.provider_name)


def _role(s: Any, actor: Actor) -> str:
    return "provider" if s.provider_org_id == actor.org_id else "consumer"


def organisation_attention(found: OrganisationAttention, actor: Actor) -> dict[str, Any]:
    """The home page of an organisation's people: each list as the page shows it."""
    def brief(s: Any) -> dict[str, Any]:
        return {"id": id_of(s), "asset_id": str(s.asset_id), "asset_name": s.asset_name, "partner": _partner(s, actor),
                "role": _role(s, actor), "mode": str(_value(s.mode)), "state": str(_value(s.state)),
                "valid_from": s.valid_from, "valid_to": s.valid_to, "requested_at": s.created_at}

    return {
        "empty": found.empty,
        "to_decide": [brief(s) for s in found.to_decide],
        "expiring": [brief(s) for s in found.expiring],
        "transfers": [{**brief(w.subscription), **transfer(w.job), "updated_at": w.job.updated_at}
                      for w in found.transfers],
        "reports": [{**brief(r.subscription), "reported_at": r.reported_at, "message": r.message}
                    for r in found.reports],
        "lockouts": [lockout(row) for row in found.lockouts],
    }


def lockout(row: Any) -> dict[str, Any]:
    what = {throttle.CLIENT: "connector client", throttle.ACCOUNT: "account", throttle.ADDRESS: "address",
            throttle.CLIENT_ADDRESS: "connector clients from address"}.get(row.scope, row.scope)
    return {"what": what, "key": row.key, "until": row.locked_until}


def portal_attention(found: PortalAttention) -> dict[str, Any]:
    return {"lockouts": [lockout(row) for row in found.lockouts],
            "without_connector": [{"name": o.name, "registered_at": o.created_at} for o in found.without_connector]}

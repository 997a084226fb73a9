"""The connector's state as operators see it (``aadsys connector status``, ``GET /connector/v1/status``).

Read from the database and the trust cache, so it answers with or without a running AAdSys; a running one
adds each channel's live state. The reads are plain SQL (``connector._rows``): the command answers without
importing the ORM.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from connector._rows import Rows, document, moment
from connector.codes import REFUSAL_ACTION
from connector.data import _figures
from connector.spi import Mode, Role, SubscriptionState, SubscriptionView

if TYPE_CHECKING:
    from aadsys.config import Settings
    from connector._identity import Identity

_SUBSCRIPTIONS = ("SELECT id, role, mode, asset_type, state, valid_from, valid_to, peer_org_id, peer_endpoint, "
                  "peer_signing_key, peer_encryption_key, provider_owner, provider_base_iri, "
                  '"grant", grant_expires_at, peer_name, reason '  # GRANT is a keyword of SQL: quoted
                  "FROM subscriptions ORDER BY valid_from")
_JOBS = ("SELECT subscription_id, role, state, total, count, digest, reason FROM history_jobs "
         "ORDER BY started_at")
_REFUSALS = "SELECT detail FROM audit_log WHERE action = :action"
_REVOKED_HERE = ("SELECT id, revoked_here_at, revocation_told_at FROM subscriptions "
                 "WHERE revoked_here_at IS NOT NULL")


class Trusted(Protocol):
    """What the trust cache knows that status shows (``connector.control._trust.Trust``; the data plane's refusal
    counts read this module too, and the planes meet only at ``connector.spi``)."""

    endpoint_url: str | None
    org_id: str | None


def collect_status(settings: Settings, rows: Rows, trust: Trusted, identity: Identity, *,
                   portal_reachable: bool | None, channels: dict[str, dict[str, Any]] | None = None,
                   unwritten: dict[str, int] | None = None) -> dict[str, Any]:
    """What ``aadsys connector status`` shows; ``unwritten``: refusals a running connector counted this minute
    and writes at the minute's end (``connector._refusals``)."""
    now = datetime.now(UTC)
    jobs = history_jobs(rows)
    revoked_here = {sub_id: (moment(at), moment(told)) for sub_id, at, told in rows.all(_REVOKED_HERE)}
    subscriptions = []
    for view, peer, reason in subscription_views(rows):
        entry: dict[str, Any] = {
            "id": view.id, "role": view.role.value, "peer": peer, "peerOrgId": view.peer_org_id,
            "assetType": view.asset_type, "mode": view.mode.value, "state": view.state.value, "reason": reason,
            "validFrom": iso(view.valid_from), "validTo": iso(view.valid_to), "live": view.live_at(now),
            "grantExpiresAt": iso(view.grant_expires_at) if view.grant_expires_at else None,
        }
        if view.role is Role.PROVIDER:
            f = _figures.provider(rows, view.id)
            entry.update(lastSeqMade=f.last_seq_made, lastSeqSent=f.last_seq_sent, lastSeqStored=f.last_seq_stored,
                         pending=f.pending, unconfirmed=f.sent - f.stored - f.expired, stored=f.stored,
                         expired=f.expired, lag=f.last_seq_made - f.last_seq_stored)
        else:
            r = _figures.consumer(rows, view.id)
            entry.update(lastSeqStored=r.last_seq, stored=r.stored)
        if view.id in revoked_here:  # by `aadsys connector revoke`; told to the portal, or not yet
            at, told = revoked_here[view.id]
            entry["revokedHere"] = {"at": iso(at) if at else None, "portalToldAt": iso(told) if told else None}
        job = jobs.get(view.id)
        if job is not None:
            entry["history"] = {k: job[k] for k in ("state", "total", "count", "digest", "reason")}
        if channels is not None:
            entry["channel"] = channels.get(view.id, {"connected": False})
        subscriptions.append(entry)
    return {
        "org": settings.org, "publicUrl": trust.endpoint_url or settings.advertised_url,
        "portal": {"url": settings.portal_url, "reachable": portal_reachable, "orgId": trust.org_id},
        "keys": {"signing": identity.signing_key, "encryption": identity.encryption_key},
        "subscriptions": subscriptions, "refused": dict(Counter(refusal_counts(rows)) + Counter(unwritten or {})),
    }


def subscription_views(rows: Rows) -> list[tuple[SubscriptionView, str, str | None]]:
    """Each subscription this connector keeps, oldest window first, with the partner's name and the portal's
    reason for its state (a rejection's, a revocation's)."""
    found = []
    for (sub_id, role, mode, asset_type, state, valid_from, valid_to, peer_org_id, peer_endpoint, peer_signing_key,
         peer_encryption_key, provider_owner, provider_base_iri, grant, grant_expires_at, peer,
         reason) in rows.all(_SUBSCRIPTIONS):
        start, end = moment(valid_from), moment(valid_to)
        assert start is not None and end is not None  # NOT NULL columns
        view = SubscriptionView(
            id=sub_id, role=Role(role), mode=Mode(mode), asset_type=asset_type, state=SubscriptionState(state),
            valid_from=start, valid_to=end, peer_org_id=peer_org_id, peer_endpoint=peer_endpoint,
            peer_signing_key=peer_signing_key, peer_encryption_key=peer_encryption_key, provider_owner=provider_owner,
            provider_base_iri=provider_base_iri, grant=grant, grant_expires_at=moment(grant_expires_at))
        found.append((view, peer, reason))
    return found


def history_jobs(rows: Rows) -> dict[str, dict[str, Any]]:
    """Each historical transfer as this side keeps it, by subscription id, oldest first."""
    return {sub_id: {"subscription": sub_id, "role": role, "state": state, "total": total, "count": count,
                     "digest": digest, "reason": reason}
            for sub_id, role, state, total, count, digest, reason in rows.all(_JOBS)}


def refusal_counts(rows: Rows) -> dict[str, int]:
    """Refusals so far, by code, from the audit trail (so they survive restarts)."""
    found: Counter[str] = Counter()
    for (detail,) in rows.all(_REFUSALS, {"action": REFUSAL_ACTION}):
        fields = document(detail)
        found[str(fields.get("code"))] += int(fields.get("count") or 1)  # an aggregate row stands for ``count``
    return dict(found)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

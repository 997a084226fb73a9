"""The connector's state as operators see it (``aadsys connector status``, ``GET /connector/v1/status``).

Read from the database and the trust cache, so it answers with or without a running AAdSys; a running one
adds each channel's live state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aadsys.config import Settings
from aadsys.core.instances import iso
from connector._identity import Identity
from connector._refusals import Refusals
from connector.control._ledger import Ledger, view_of
from connector.control._trust import TrustStore
from connector.data import _received
from connector.data._history import HistoryJobs
from connector.data._outbox import provider_figures
from connector.spi import Role


def collect_status(settings: Settings, ledger: Ledger, jobs: HistoryJobs, refusals: Refusals, trust: TrustStore,
                   identity: Identity, *, portal_reachable: bool | None,
                   channels: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    subscriptions = []
    for row in ledger.rows():
        view = view_of(row)
        entry: dict[str, Any] = {
            "id": view.id, "role": view.role.value, "peer": row.peer_name, "peerOrgId": view.peer_org_id,
            "assetType": view.asset_type, "mode": view.mode.value, "state": view.state.value,
            "validFrom": iso(view.valid_from), "validTo": iso(view.valid_to), "live": view.live_at(now),
            "grantExpiresAt": iso(view.grant_expires_at) if view.grant_expires_at else None,
        }
        if view.role is Role.PROVIDER:
            f = provider_figures(ledger.db, view.id)
            entry.update(lastSeqMade=f.last_seq_made, lastSeqSent=f.last_seq_sent, lastSeqStored=f.last_seq_stored,
                         pending=f.pending, unconfirmed=f.sent - f.stored - f.expired, stored=f.stored,
                         expired=f.expired, lag=f.last_seq_made - f.last_seq_stored)
        else:
            r = _received.figures(ledger.db, view.id)
            entry.update(lastSeqStored=r.last_seq, stored=r.stored)
        job = jobs.get(view.id)
        if job is not None:
            entry["history"] = {"state": job.state, "total": job.total, "count": job.count, "digest": job.digest,
                                "reason": job.reason}
        if channels is not None:
            entry["channel"] = channels.get(view.id, {"connected": False})
        subscriptions.append(entry)
    return {
        "org": settings.org, "publicUrl": trust.trust.endpoint_url or settings.advertised_url,
        "portal": {"url": settings.portal_url, "reachable": portal_reachable, "orgId": trust.trust.org_id},
        "keys": {"signing": identity.signing_key, "encryption": identity.encryption_key},
        "subscriptions": subscriptions, "refused": refusals.counts(),
    }

"""Names for the ids that audit entries record, so the audit log reads as people and things, not UUIDs.

The entries stay as written (the trail is append-only, DESIGN §6); only what a page shows is resolved. Actors
are recorded as an email, ``connector <client id>``, ``<email> (personal token)`` or ``portal``; subjects as
``<kind> <id>``, some with `` (<name>)``: ``subscription <id>``, ``transfer <id>``, ``asset <id> (<name>)``,
``personal token <id> (<name>)``, ``client <client id>``, ``organisation <name>``, ``user <email>``,
``account <email>``, ``address <ip>``, ``signing key <kid>``. An id that no longer resolves is shown as recorded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from abm_portal.models import Asset, AuditEntry, Organisation, Subscription, TransferJob
from abm_portal.services import audit
from abm_portal.services.actors import Actor

_CONNECTOR = re.compile(r"^connector (?P<client>\S+)$")
_SUBJECT = re.compile(r"^(?P<kind>subscription|transfer|client|asset|personal token) (?P<id>\S+)"
                      r"(?: \((?P<name>.*)\))?$")


@dataclass(frozen=True)
class NamedEntry:
    entry: AuditEntry
    actor_name: str
    subject_name: str

    @property
    def at(self) -> datetime:
        return self.entry.at

    @property
    def action(self) -> str:
        return self.entry.action


def named_audit(db: Session, actor: Actor, start: datetime | None, end: datetime | None) -> list[NamedEntry]:
    """The organisation's audit trail (``audit.list_audit``) with names for its actors and subjects."""
    entries = audit.list_audit(db, actor, start, end)
    subjects = [m for e in entries if (m := _SUBJECT.match(e.subject))]
    clients = _org_names_by_client(db, [m["client"] for e in entries if (m := _CONNECTOR.match(e.actor))]
                                   + [m["id"] for m in subjects if m["kind"] == "client"])
    subscriptions = _subscription_names(db, [m["id"] for m in subjects if m["kind"] == "subscription"],
                                        [m["id"] for m in subjects if m["kind"] == "transfer"])
    return [NamedEntry(e, _actor_name(e.actor, clients), _subject_name(e.subject, clients, subscriptions))
            for e in entries]


def _actor_name(recorded: str, clients: dict[str, str]) -> str:
    if recorded == audit.SYSTEM_ACTOR:
        return "the portal"
    found = _CONNECTOR.match(recorded)
    if found and found["client"] in clients:
        return f"the connector of {clients[found['client']]}"
    return recorded


def _subject_name(recorded: str, clients: dict[str, str], subscriptions: dict[tuple[str, str], str]) -> str:
    found = _SUBJECT.match(recorded)
    if found is None:
        return recorded
    kind, key, name = found["kind"], found["id"], found["name"]
    if kind in ("subscription", "transfer") and (kind, key) in subscriptions:
        return subscriptions[(kind, key)]
    if kind == "client" and key in clients:
        return f"the connector client of {clients[key]}"
    if kind in ("asset", "personal token") and name:
        return f"{kind} “{name}”"
    return recorded


def _org_names_by_client(db: Session, client_ids: Iterable[str]) -> dict[str, str]:
    wanted = set(client_ids)
    if not wanted:
        return {}
    rows = db.exec(select(Organisation.client_id, Organisation.name).where(col(Organisation.client_id).in_(wanted)))
    return dict(rows.all())


def _subscription_names(db: Session, subscription_ids: list[str],
                        transfer_ids: list[str]) -> dict[tuple[str, str], str]:
    """``{(kind, id): name}`` for the subscriptions and transfers named, e.g. "PEC's subscription to “Sales Order
    Status” (OMIS)"."""
    jobs = dict(db.exec(select(TransferJob.id, TransferJob.subscription_id)
                        .where(col(TransferJob.id).in_(set(transfer_ids)))).all()) if transfer_ids else {}
    wanted = set(subscription_ids) | set(jobs.values())
    if not wanted:
        return {}
    provider, consumer = aliased(Organisation), aliased(Organisation)
    rows = db.exec(select(Subscription.id, Asset.name, col(provider.name), col(consumer.name))
                   .join(Asset, col(Asset.id) == Subscription.asset_id)
                   .join(provider, col(provider.id) == Subscription.provider_org_id)
                   .join(consumer, col(consumer.id) == Subscription.consumer_org_id)
                   .where(col(Subscription.id).in_(wanted))).all()
    named = {sub_id: (asset, provider_name, consumer_name) for sub_id, asset, provider_name, consumer_name in rows}
    names: dict[tuple[str, str], str] = {}
    for sub_id, (asset, provider_name, consumer_name) in named.items():
        names[("subscription", sub_id)] = f"{consumer_name}’s subscription to “{asset}” of {provider_name}"
    for job_id, sub_id in jobs.items():
        if sub_id in named:
            asset, provider_name, consumer_name = named[sub_id]
            names[("transfer", job_id)] = f"transfer of “{asset}” from {provider_name} to {consumer_name}"
    return names

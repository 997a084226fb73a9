"""One-time links (DESIGN §4) for record payloads above the inline limit and for the content of every file.

A link is a 256-bit random token (only its SHA-256 is stored), bound to one payload or file, one
subscription and one consumer (its signing key: a download must carry the consumer's proof over the token),
valid for minutes and consumed atomically: a second use is ``410 Gone``. The content is sealed for the
consumer as it streams, so a link's bytes are useless to anyone else. A link is marked delivered when the
consumer confirms the record stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update
from sqlmodel import Session

from aadsys.core.db import Database
from aadsys.core.tables import table_of
from connector._clock import Clock
from connector._leases import Fence
from connector._metrics import UNKNOWN_KIND, ConnectorMetrics, LinkResult
from connector._sealing import verify_proof
from connector._standing import require_standing
from connector._wire import PROOF_LINK
from connector.errors import Fallen, LinkRefused
from connector.tables import LinkRow

_LINKS = table_of(LinkRow)


@dataclass(frozen=True, slots=True)
class NewLink:
    kind: str  # payload | file
    seq: int
    salt: str
    nonce: str
    instance_id: int | None = None
    file_sha256: str | None = None
    header: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    subscription_id: str
    seq: int
    kind: str
    instance_id: int | None
    file_sha256: str | None
    salt: str
    nonce: str
    header: str | None
    consumer_encryption_key: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Links:
    def __init__(self, db: Database, ttl_seconds: float, clock: Clock, metrics: ConnectorMetrics) -> None:
        self.db, self.clock, self.metrics = db, clock, metrics
        self.ttl = timedelta(seconds=ttl_seconds)

    def issue(self, subscription_id: str, consumer_signing_key: str, consumer_encryption_key: str,
              links: Sequence[NewLink], *, fence: Fence | None = None) -> list[str]:
        """Tokens for ``links``, in order; earlier unused links for the same deliveries stop working."""
        tokens = [secrets.token_urlsafe(32) for _ in links]
        now = self.clock.now()
        with self.db.write_session() as session:
            if fence is not None:
                fence.check(session)
            session.execute(update(_LINKS).where(
                _LINKS.c.subscription_id == subscription_id, _LINKS.c.seq.in_({link.seq for link in links}),
                _LINKS.c.used_at.is_(None)).values(expires_at=now))
            session.execute(insert(_LINKS), [
                {"token_sha256": token_hash(token), "subscription_id": subscription_id, "seq": link.seq,
                 "consumer_signing_key": consumer_signing_key, "consumer_encryption_key": consumer_encryption_key,
                 "kind": link.kind, "instance_id": link.instance_id, "file_sha256": link.file_sha256,
                 "salt": link.salt, "nonce": link.nonce, "header": link.header, "created_at": now,
                 "expires_at": now + self.ttl} for token, link in zip(tokens, links, strict=True)])
            session.commit()
        return tokens

    def consume(self, token: str, proof: str | None) -> Link:
        """The link, now used up; ``LinkRefused`` if it is unknown (404), not the caller's (403) or gone (410):
        used, expired, or its subscription ended (checked in the same transaction that uses it up)."""
        digest = token_hash(token)
        now = self.clock.now()
        # Unknown tokens and wrong proofs are answered from a plain read: a stranger's guesses never take the
        # write lock that deliveries need.
        with self.db.session() as reading:
            row = reading.execute(select(_LINKS).where(_LINKS.c.token_sha256 == digest)).first()
        if row is None:
            self.metrics.link_used(UNKNOWN_KIND, LinkResult.NOT_FOUND)
            raise LinkRefused(404, "no such link")
        if not proof or not verify_proof(row.consumer_signing_key, proof, PROOF_LINK, token):
            self.metrics.link_used(row.kind, LinkResult.FORBIDDEN)
            raise LinkRefused(403, "the X-Link-Proof header is not the subscribed consumer's signature over "
                                   "this token")
        with self.db.write_session() as session:
            try:
                require_standing(session, row.subscription_id, now)
            except Fallen as ended:
                self.metrics.link_used(row.kind, LinkResult.GONE)
                raise LinkRefused(410, f"{ended.reason}; its links work no more", code=ended.code) from None
            used = session.execute(update(_LINKS).where(
                _LINKS.c.token_sha256 == digest, _LINKS.c.used_at.is_(None), _LINKS.c.expires_at > now)
                .values(used_at=now))
            session.commit()
        if not cast("CursorResult[Any]", used).rowcount:
            self.metrics.link_used(row.kind, LinkResult.GONE)
            raise LinkRefused(410, "the link was used already or has expired; links work once", retry=True)
        self.metrics.link_used(row.kind, LinkResult.OK)
        return Link(row.subscription_id, row.seq, row.kind, row.instance_id, row.file_sha256, row.salt, row.nonce,
                    row.header, row.consumer_encryption_key)

    def delivered(self, subscription_id: str, seqs: Sequence[int], session: Session | None = None) -> None:
        """The consumer stored these seqs: their used links are done. Inside the caller's ``session`` if given
        (the caller commits), else in a transaction of its own."""
        with self.db.joined(session) as transaction:
            transaction.execute(update(_LINKS).where(
                _LINKS.c.subscription_id == subscription_id, _LINKS.c.seq.in_(list(seqs)),
                _LINKS.c.used_at.is_not(None), _LINKS.c.delivered_at.is_(None)).values(delivered_at=self.clock.now()))

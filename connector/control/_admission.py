"""Admission (DESIGN §5.1): whether a consumer may have a channel, decided in this one object.

A consumer presents its grant twice: for a nonce (``challenge``), then at the connect with the nonce and its
proof (``admit``); an open channel may present a fresh grant (``refresh``). Every path runs the same offline
checks (``check``):

1. the grant itself (``_trust.check_grant``): the portal's ES256 signature by a key of the cached JWKS (learnt
   anew once when the key is unknown: the portal may have rotated it), ``typ``, ``iss``, ``aud`` = us, its
   lifetime, and for real-time the window validFrom ≤ now < validTo;
2. what we know of the subscription: not ended here (revoked, expired …), even while the portal is down;
3. a record type we hold.

``admit`` then takes the nonce (single use, ``NONCE_SECONDS``, bound to the subscription), checks the proof
(the consumer's Ed25519 signature over ("channel", nonce, sha256(grant)) by the key the grant names), and asks
the portal online when it answers (``POST …/verify``): this is how a revocation reaches a provider. Nonces live
in the database, so that the worker that takes the connect need not be the one that issued the challenge.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

import anyio
from sqlalchemy import delete, insert

from aadsys.core.db import Database
from aadsys.core.instances import aware
from aadsys.core.tables import table_of
from connector._clock import Clock
from connector._sealing import verify_proof
from connector._wire import PROOF_CHANNEL
from connector.codes import Code
from connector.control._ledger import Ledger
from connector.control._portal import PortalClient
from connector.control._trust import TrustStore, check_grant
from connector.errors import GrantRefused, PortalError, PortalRefused, PortalUnavailable
from connector.spi import FINAL_STATES, GrantClaims, SubscriptionState
from connector.tables import NonceRow

log = logging.getLogger("connector.control")
NONCE_SECONDS = 60
TRUST_RETRY_SECONDS = 5.0  # an unknown key makes us ask the portal for its keys at most this often
_N = table_of(NonceRow)


class Nonces:
    """Fresh server nonces: single use, short-lived, bound to a subscription. Kept in the database (their SHA-256
    only), shared by every worker of the AAdSys: a proxy sends a consumer's challenge to one worker and its connect
    to another. Each issue deletes the expired ones; how many are open is bounded by the handshake budget per
    source (``ProviderPlane``) and the grant every challenge must present. Blocking: async callers use a thread."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def issue(self, subscription_id: str) -> str:
        nonce, now = secrets.token_urlsafe(32), self.clock.now()
        with self.db.write_session() as session:
            session.execute(delete(_N).where(_N.c.expires_at <= now))
            session.execute(insert(_N).values(nonce_sha256=_digest(nonce), subscription_id=subscription_id,
                                              expires_at=now + timedelta(seconds=NONCE_SECONDS)))
            session.commit()
        return nonce

    def take(self, nonce: str, subscription_id: str) -> bool:
        """Whether ``nonce`` was open for ``subscription_id``; it is gone either way (one attempt per nonce)."""
        with self.db.write_session() as session:
            found = session.execute(delete(_N).where(_N.c.nonce_sha256 == _digest(nonce))
                                    .returning(_N.c.subscription_id, _N.c.expires_at)).first()
            session.commit()
        return found is not None and found.subscription_id == subscription_id and \
            aware(found.expires_at) > self.clock.now()


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class Admission:
    """The provider's ``spi.Admissions``."""

    def __init__(self, *, trust: TrustStore, ledger: Ledger, portal: PortalClient,
                 held_types: Callable[[], frozenset[str]], refresh_trust: Callable[[], Awaitable[None]],
                 clock: Clock, leeway_seconds: int) -> None:
        self.trust, self.ledger, self.portal, self.held_types = trust, ledger, portal, held_types
        self._refresh_trust, self.clock, self.leeway = refresh_trust, clock, leeway_seconds
        self.nonces = Nonces(ledger.db, clock)
        self._trust_tried_at = -TRUST_RETRY_SECONDS

    async def challenge(self, grant: str) -> str:
        claims = await self.check(grant)
        return await anyio.to_thread.run_sync(self.nonces.issue, claims.subscription_id)

    async def admit(self, grant: str, nonce: str, proof: str) -> GrantClaims:
        claims = await self.check(grant)
        if not await anyio.to_thread.run_sync(self.nonces.take, nonce, claims.subscription_id):
            raise GrantRefused(Code.STALE_NONCE, f"the nonce is unknown, used or older than {NONCE_SECONDS} s; ask "
                                                 "for a fresh challenge", claims.subscription_id)
        grant_digest = hashlib.sha256(grant.encode()).hexdigest()
        if not verify_proof(claims.consumer_signing_key, proof, PROOF_CHANNEL, nonce, grant_digest):
            raise GrantRefused(Code.BAD_PROOF, "the proof is not signed with the consumer key the grant names",
                               claims.subscription_id)
        await self._verify_online(claims, grant)
        return claims

    async def refresh(self, grant: str, channel: GrantClaims) -> GrantClaims:
        claims = await self.check(grant)
        if claims.subscription_id != channel.subscription_id:
            raise GrantRefused(Code.WRONG_SUBSCRIPTION, "the grant is for another subscription than the channel's",
                               channel.subscription_id)
        if claims.consumer_signing_key != channel.consumer_signing_key:
            raise GrantRefused(Code.BAD_PROOF, "the fresh grant names another consumer key than the channel's",
                               channel.subscription_id)
        return claims

    async def check(self, grant: str) -> GrantClaims:
        """The offline checks every path shares (see the module's docstring)."""
        claims = await self._checked_grant(grant)
        row = await anyio.to_thread.run_sync(self.ledger.get, claims.subscription_id)
        if row is not None and SubscriptionState(row.state) in FINAL_STATES:  # known here, even if the portal is down
            raise GrantRefused(Code(row.state), f"the subscription is {row.state}"
                               + (f": {row.reason}" if row.reason else ""), claims.subscription_id)
        if claims.asset_type not in self.held_types():
            raise GrantRefused(Code.UNKNOWN_ASSET_TYPE, f"this AAdSys holds no {claims.asset_type} records",
                               claims.subscription_id)
        return claims

    async def _checked_grant(self, grant: str) -> GrantClaims:
        try:
            return check_grant(grant, self.trust.trust, leeway=self.leeway, now=self.clock.now())
        except GrantRefused as exc:
            now = self.clock.monotonic()
            if exc.code not in (Code.UNKNOWN_KEY, Code.NO_TRUST) or now - self._trust_tried_at < TRUST_RETRY_SECONDS:
                raise
            self._trust_tried_at = now
            try:  # the portal may have rotated its key, or we never reached it yet
                await self._refresh_trust()
            except PortalError:
                raise exc from None
            return check_grant(grant, self.trust.trust, leeway=self.leeway, now=self.clock.now())

    async def _verify_online(self, claims: GrantClaims, grant: str) -> None:
        try:
            answer = await self.portal.verify(claims.subscription_id, grant)
        except PortalUnavailable as exc:
            log.info("subscription %s: grant checked offline only (%s)", claims.subscription_id, exc.cause)
            return
        except PortalRefused as exc:
            raise GrantRefused(Code.UNKNOWN_SUBSCRIPTION, f"the portal does not confirm it: {exc.detail}",
                               claims.subscription_id) from None
        if answer.get("valid"):
            return
        state = str(answer.get("state") or "")
        reason = str(answer.get("reason") or f"the subscription is {state or 'not valid'}")
        if state in FINAL_STATES:
            await anyio.to_thread.run_sync(self.ledger.end, [claims.subscription_id], SubscriptionState(state),
                                           reason)
            raise GrantRefused(Code(state), reason, claims.subscription_id)
        raise GrantRefused(Code.INVALID, reason, claims.subscription_id)

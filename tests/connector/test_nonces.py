"""Channel nonces (DESIGN §5.1) shared by the workers of one AAdSys: a proxy sends a consumer's challenge to one
worker and its connect to another, and the nonce still works there, once."""

from __future__ import annotations

from sqlalchemy import func, select

from aadsys.core.tables import table_of
from aadsys.gateway.context import AadsysContext
from connector.control._admission import NONCE_SECONDS, Nonces
from connector.tables import NonceRow
from tests.connector.channel_pair import ManualClock

SUB = "sub-1"


def open_nonces(pec: AadsysContext) -> int:
    with pec.db.session() as session:
        return int(session.execute(select(func.count()).select_from(table_of(NonceRow))).scalar_one())


def test_a_nonce_one_worker_issued_is_taken_by_another_once(pec: AadsysContext) -> None:
    clock = ManualClock()
    first, second = Nonces(pec.db, clock), Nonces(pec.db, clock)  # two workers on one database

    nonce = first.issue(SUB)

    assert second.take(nonce, SUB)
    assert not first.take(nonce, SUB)
    assert not second.take(nonce, SUB)


def test_a_nonce_presented_for_another_subscription_is_refused_and_spent(pec: AadsysContext) -> None:
    nonces = Nonces(pec.db, ManualClock())
    nonce = nonces.issue(SUB)

    assert not nonces.take(nonce, "sub-2")
    assert not nonces.take(nonce, SUB)


def test_an_expired_nonce_is_refused_and_the_next_issue_clears_the_expired(pec: AadsysContext) -> None:
    clock = ManualClock()
    nonces = Nonces(pec.db, clock)
    late, kept = nonces.issue(SUB), nonces.issue(SUB)
    clock.advance(NONCE_SECONDS + 1)

    assert not nonces.take(late, SUB)
    nonces.issue(SUB)
    assert open_nonces(pec) == 1
    assert not nonces.take(kept, SUB)

"""The connector's ledger keeps what the portal shows of each subscription, except that a final state is final
here as at the portal: what ended here stays ended, whatever a later view of the portal says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event

from aadsys.gateway.context import AadsysContext
from connector._revoking import RevocationRefused, flow_ended, revoke_here
from connector.control._ledger import Ledger
from connector.spi import Role, SubscriptionState

SUB = "sub-1"
START = datetime(2026, 1, 1, tzinfo=UTC)


def shown(state: str, sub: str = SUB) -> dict[str, str]:
    """A subscription as the portal lists it to PEC, its provider."""
    return {"id": sub, "assetId": "asset-1", "assetType": "sales-order", "mode": "realtime",
            "validFrom": START.isoformat(), "validTo": (START + timedelta(days=3650)).isoformat(), "state": state,
            "providerOrgId": "org-pec", "consumerOrgId": "org-omis", "providerName": "PEC", "consumerName": "OMIS"}


@pytest.fixture
def ledger(pec: AadsysContext) -> Ledger:
    return Ledger(pec.db)


def test_a_subscription_revoked_here_is_not_brought_back_by_a_portal_that_still_shows_it_active(
        pec: AadsysContext, ledger: Ledger) -> None:
    ledger.upsert(shown("active"), Role.PROVIDER, "org-pec")
    done = revoke_here(pec.db.engine, SUB, "the contract ended", datetime.now(UTC))
    assert (done.already, done.told, done.peer) == (False, False, "OMIS")

    row, changed = ledger.upsert(shown("active"), Role.PROVIDER, "org-pec")  # the portal has not heard yet
    assert (row.state, row.reason, changed) == ("revoked", "the contract ended", False)
    assert ledger.end([SUB], SubscriptionState.CANCELLED, "the consumer cancelled") == []
    assert ledger.get(SUB).state == "revoked"  # type: ignore[union-attr]
    assert ledger.live(datetime.now(UTC)) == []
    assert [r.id for r in ledger.untold_revocations()] == [SUB]

    ledger.revocation_told(SUB)
    assert ledger.untold_revocations() == []
    again = revoke_here(pec.db.engine, SUB, None, datetime.now(UTC))  # twice: nothing new, the first reason kept
    assert (again.already, again.told, again.reason) == (True, True, "the contract ended")


def test_only_an_approved_or_active_subscription_we_provide_is_revoked_here(pec: AadsysContext,
                                                                           ledger: Ledger) -> None:
    ledger.upsert(shown("active", "as-consumer"), Role.CONSUMER, "org-omis")
    ledger.upsert(shown("expired", "expired"), Role.PROVIDER, "org-pec")
    ledger.upsert(shown("requested", "requested"), Role.PROVIDER, "org-pec")
    now = datetime.now(UTC)
    cases = {"as-consumer": (1, "only the provider revokes"), "expired": (1, "is expired already"),
             "requested": (1, "reject the request"), "no-such": (2, "knows no subscription no-such")}
    for sub, (status, says) in cases.items():
        with pytest.raises(RevocationRefused) as refused:
            revoke_here(pec.db.engine, sub, None, now)
        assert refused.value.status == status and says in str(refused.value), str(refused.value)
    assert {r.id: r.state for r in ledger.rows()} == {"as-consumer": "active", "expired": "expired",
                                                     "requested": "requested"}


def test_a_flow_has_ended_when_no_worker_holds_its_lease(pec: AadsysContext) -> None:
    from connector._clock import SystemClock
    from connector._leases import Leases
    from connector._metrics import ConnectorMetrics

    leases = Leases(pec.db, "worker-1", 10, SystemClock(), ConnectorMetrics(pec.metrics))
    assert flow_ended(pec.db.engine, SUB, datetime.now(UTC))  # never taken
    fence = leases.take(SUB, "provider")
    assert fence is not None and not flow_ended(pec.db.engine, SUB, datetime.now(UTC))
    leases.release(fence)
    assert flow_ended(pec.db.engine, SUB, datetime.now(UTC))



def test_the_portal_showing_the_same_subscription_again_writes_nothing(ledger: Ledger) -> None:
    first, _ = ledger.upsert(shown("active"), Role.PROVIDER, "org-pec")

    again, changed = ledger.upsert(shown("active"), Role.PROVIDER, "org-pec")  # an idle round
    assert (changed, again.updated_at) == (False, first.updated_at)
    assert ledger.get(SUB).updated_at == first.updated_at  # type: ignore[union-attr]

    later, changed = ledger.upsert(shown("completed"), Role.PROVIDER, "org-pec")
    assert (changed, later.state) == (True, "completed")
    assert ledger.get(SUB).updated_at > first.updated_at  # type: ignore[union-attr]


def test_what_the_portal_shows_in_a_round_is_taken_in_one_read_and_only_changes_are_written(
        ledger: Ledger, pec: AadsysContext) -> None:
    ledger.upsert_all([(shown("active", "sub-a"), Role.PROVIDER), (shown("approved", "sub-b"), Role.PROVIDER)])
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)  # every engine: SQLite writes through one of their own
    try:
        taken = ledger.upsert_all([(shown("active", "sub-a"), Role.PROVIDER), (shown("active", "sub-b"), Role.PROVIDER),
                                   (shown("approved", "sub-c"), Role.PROVIDER)])
    finally:
        event.remove(Engine, "before_cursor_execute", seen)

    assert [(row.id, row.state, changed) for row, changed in taken] == [
        ("sub-a", "active", False), ("sub-b", "active", True), ("sub-c", "approved", True)]
    reads = [s for s in statements if s.lstrip().startswith("SELECT")]
    assert len(reads) == 1, statements  # all rows at once, not one read per subscription
    assert sum(s.lstrip().startswith(("UPDATE", "INSERT")) for s in statements) == 2  # sub-b changed, sub-c is new

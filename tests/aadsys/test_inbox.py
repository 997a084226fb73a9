"""The inbox (DESIGN §5.3): a partner's records enter our store only as the canonical rendering of a valid
record under the provider's ids, once each, kept apart from our own records under the provider's origin."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from sqlalchemy import func, select

from aadsys.core.errors import InstanceNotFound, MissingFiles
from aadsys.core.inbox import Arrival, Outcome, Provenance, Receipt, RecordRefused
from aadsys.core.instances import StoredInstance
from aadsys.core.tables import InboxRow, InstanceRow, SubmodelRow
from aadsys.gateway.context import AadsysContext
from aas_models import Owner, render_instance
from tests.aadsys.conftest import CANONICAL_ORDER, order
from tests.aas_models.records import record
from tests.support.databases import AadsysTemplates

PEC = Owner("pec", "https://pec.example")
FROM_PEC = Provenance("sub-1", PEC, "org-pec")


@pytest.fixture
def pec(tmp_path: Path, aadsys_templates: AadsysTemplates) -> Iterator[AadsysContext]:
    """The provider, where records are rendered and stored first."""
    ctx = AadsysContext.build(aadsys_templates.settings(tmp_path / "pec", PEC.org, PEC.base_iri))
    yield ctx
    ctx.db.dispose()


@pytest.fixture
def omis(database_url: str, tmp_path: Path, aadsys_templates: AadsysTemplates) -> Iterator[AadsysContext]:
    """The consumer, whose inbox is under test, on each supported database."""
    ctx = AadsysContext.build(aadsys_templates.settings(tmp_path / "omis", "omis", "https://omis.example",
                                                        postgresql=database_url.startswith("postgresql")))
    yield ctx
    ctx.db.dispose()


def arrival_of(stored: StoredInstance, seq: int = 1) -> Arrival:
    """The record as it comes off the channel: what the provider stored, numbered for the subscription."""
    return Arrival(seq=seq, asset_type=stored.asset_type, key=stored.key, revision=stored.revision,
                   created_at=stored.created_at, sha256=stored.sha256, aas_json=stored.aas_json)


def receive(omis: AadsysContext, *arrivals: Arrival, provenance: Provenance = FROM_PEC) -> list[Receipt]:
    return omis.inbox.store(provenance, [(a, omis.inbox.check(provenance, a)) for a in arrivals])


def count(ctx: AadsysContext, row: type) -> int:
    with ctx.db.session() as session:
        return int(session.execute(select(func.count()).select_from(row)).scalar_one())


def sales_order(pec: AadsysContext, order_id: str = "SO-1", **changes: object) -> StoredInstance:
    return pec.instances.create("sales-order", order(order_id, **changes))[0]


def test_received_record_keeps_the_providers_ids_and_is_read_under_the_providers_origin(
        pec: AadsysContext, omis: AadsysContext) -> None:
    sent = sales_order(pec)

    (receipt,) = receive(omis, arrival_of(sent))

    got = omis.instances.get("sales-order", "SO-1", origin="pec")
    assert receipt == Receipt(1, Outcome.STORED, got.seq)
    assert got.shell_id == sent.shell_id and got.shell_id.startswith("https://pec.example/")
    assert (got.aas_json, got.sha256, got.created_at) == (sent.aas_json, sent.sha256, sent.created_at)
    assert got.provider == "pec" and got.head()["provider"] == "pec"
    assert got.business() == sent.business()
    with pytest.raises(InstanceNotFound):
        omis.instances.get("sales-order", "SO-1", origin="")
    assert omis.instances.page("sales-order").items == []
    assert [i.key for i in omis.instances.page("sales-order", origin="pec").items] == ["SO-1"]


def test_consumer_holds_its_own_record_with_the_same_key_beside_the_received_one(
        pec: AadsysContext, omis: AadsysContext) -> None:
    own, created = omis.instances.create("sales-order", order("SO-1", channel="phone"))
    assert created

    receive(omis, arrival_of(sales_order(pec)))

    assert omis.instances.get("sales-order", "SO-1").shell_id == own.shell_id
    assert own.shell_id.startswith("https://omis.example/")
    assert omis.instances.get("sales-order", "SO-1", origin="pec").shell_id.startswith("https://pec.example/")
    assert omis.instances.create("sales-order", order("SO-1", channel="phone")) == (own, False)


def test_same_arrival_stored_again_is_a_duplicate_of_the_same_instance_and_adds_no_row(
        pec: AadsysContext, omis: AadsysContext) -> None:
    arrival = arrival_of(sales_order(pec))
    (first,) = receive(omis, arrival)
    rows = (count(omis, InstanceRow), count(omis, InboxRow))

    (again,) = receive(omis, arrival)

    assert again == Receipt(1, Outcome.DUPLICATE, first.instance_seq)
    assert (count(omis, InstanceRow), count(omis, InboxRow)) == rows == (1, 1)


def test_a_record_sent_twice_in_one_batch_is_stored_once(pec: AadsysContext, omis: AadsysContext) -> None:
    arrival = arrival_of(sales_order(pec))

    receipts = receive(omis, arrival, replace(arrival, seq=2))

    assert [r.outcome for r in receipts] == [Outcome.STORED, Outcome.DUPLICATE]
    assert receipts[0].instance_seq == receipts[1].instance_seq
    assert count(omis, InstanceRow) == 1


def test_the_same_record_by_another_subscription_of_the_provider_is_stored_as_the_same_instance(
        pec: AadsysContext, omis: AadsysContext) -> None:
    arrival = arrival_of(sales_order(pec))
    (first,) = receive(omis, arrival)

    (second,) = receive(omis, arrival, provenance=Provenance("sub-2", PEC, "org-pec"))

    assert second == Receipt(1, Outcome.STORED, first.instance_seq)
    assert (count(omis, InstanceRow), count(omis, InboxRow)) == (1, 2)


@pytest.mark.parametrize(("old", "new"), [
    (b'"id":"https://pec.example/ids/aas/sales-order/SO-1"', b'"id":"https://pec.example/ids/aas/sales-order/SO-2"'),
    (b'"idShort":"SalesOrder_SO_1"', b'"idShort":"SalesOrder_SO_X"'),
    (b'"administration":{"version":"1"', b'"administration":{"version":"2"'),
], ids=["shell-id", "id-short", "version"])
def test_one_changed_byte_with_matching_sha256_is_refused(
        pec: AadsysContext, omis: AadsysContext, old: bytes, new: bytes) -> None:
    arrival = arrival_of(sales_order(pec))
    assert old in arrival.aas_json and len(old) == len(new)
    changed = arrival.aas_json.replace(old, new, 1)
    tampered = replace(arrival, aas_json=changed, sha256=hashlib.sha256(changed).hexdigest())

    with pytest.raises(RecordRefused) as refused:
        omis.inbox.check(FROM_PEC, tampered)

    assert refused.value.seq == 1
    assert count(omis, InstanceRow) == 0


def test_right_bytes_claimed_under_another_provider_are_refused(pec: AadsysContext, omis: AadsysContext) -> None:
    evil = Provenance("sub-1", Owner("evil", "https://evil.example"), "org-evil")

    with pytest.raises(RecordRefused, match="https://evil.example"):
        omis.inbox.check(evil, arrival_of(sales_order(pec)))


def test_message_naming_another_key_than_its_record_is_refused(pec: AadsysContext, omis: AadsysContext) -> None:
    with pytest.raises(RecordRefused, match="SO-2"):
        omis.inbox.check(FROM_PEC, replace(arrival_of(sales_order(pec)), key="SO-2"))


def test_a_second_revision_of_an_unversioned_record_is_refused(pec: AadsysContext, omis: AadsysContext) -> None:
    """Sales Orders are immutable: a provider rendering one as revision 2 sends something no AAdSys makes."""
    stored = sales_order(pec)
    second = render_instance("sales-order", stored.business(), PEC, revision=2)
    arrival = replace(arrival_of(stored), revision=2, aas_json=second.aas_json, sha256=second.sha256)

    with pytest.raises(RecordRefused, match="one revision only"):
        omis.inbox.check(FROM_PEC, arrival)


def test_bytes_that_are_not_a_record_of_the_type_are_refused(pec: AadsysContext, omis: AadsysContext) -> None:
    arrival = arrival_of(sales_order(pec))

    with pytest.raises(RecordRefused):
        omis.inbox.check(FROM_PEC, replace(arrival, asset_type="juice-product"))
    with pytest.raises(RecordRefused):
        omis.inbox.check(FROM_PEC, replace(arrival, aas_json=b"{}", sha256=hashlib.sha256(b"{}").hexdigest()))
    with pytest.raises(RecordRefused, match="not a valid no-such-type record"):
        omis.inbox.check(FROM_PEC, replace(arrival, asset_type="no-such-type", revision=2))


def test_other_content_under_a_stored_revision_is_refused_and_stores_nothing(
        pec: AadsysContext, omis: AadsysContext) -> None:
    receive(omis, arrival_of(sales_order(pec)))
    other = render_instance("sales-order", order("SO-1", channel="phone"), PEC)
    arrival = Arrival(2, "sales-order", "SO-1", 1, datetime.now(UTC), other.sha256, other.aas_json)

    with pytest.raises(RecordRefused):
        receive(omis, arrival, provenance=Provenance("sub-2", PEC, "org-pec"))

    assert (count(omis, InstanceRow), count(omis, InboxRow)) == (1, 1)


@pytest.mark.parametrize("arrival_order", [(1, 2), (2, 1)], ids=["in-order", "older-last"])
def test_revisions_of_a_versioned_record_keep_their_order_whichever_arrives_first(
        pec: AadsysContext, omis: AadsysContext, arrival_order: tuple[int, int]) -> None:
    status = record("sales-order-status")
    pec.instances.create("sales-order-status", status)
    pec.instances.create("sales-order-status", {**status, "status": "completed"})
    key = status["orderId"]
    revisions = {n: pec.instances.get("sales-order-status", key, revision=n) for n in (1, 2)}

    for seq, n in enumerate(arrival_order, start=1):
        receive(omis, arrival_of(revisions[n], seq=seq))

    latest = omis.instances.get("sales-order-status", key, origin="pec")
    assert (latest.revision, latest.business()["status"]) == (2, "completed")
    assert omis.instances.get("sales-order-status", key, 1, origin="pec").aas_json == revisions[1].aas_json
    stored = omis.instances.page("sales-order-status", origin="pec").items
    assert sorted(i.revision for i in stored) == [1, 2]
    newest = omis.instances.page("sales-order-status", origin="pec", latest_only=True).items
    assert [i.revision for i in newest] == [2]


@pytest.mark.parametrize("revisions", [(2, 1, 2, 3), (1, 2, 1, 3)], ids=["older-later", "in-order"])
def test_one_batch_of_revisions_with_a_repeat_stores_each_once_and_the_newest_is_latest(
        pec: AadsysContext, omis: AadsysContext, revisions: tuple[int, ...]) -> None:
    """The inbox reads a batch's stored revisions once, then works through it in memory: later records of the
    batch must see what earlier ones stored, as they would in separate batches."""
    status = record("sales-order-status")
    for state in ("in_production", "completed", "shipped"):
        pec.instances.create("sales-order-status", {**status, "status": state})
    key = status["orderId"]
    sent = {n: pec.instances.get("sales-order-status", key, revision=n) for n in (1, 2, 3)}

    receipts = receive(omis, *(arrival_of(sent[n], seq=seq) for seq, n in enumerate(revisions, start=1)))

    assert [r.outcome for r in receipts] == [Outcome.STORED, Outcome.STORED, Outcome.DUPLICATE, Outcome.STORED]
    assert receipts[2].instance_seq == receipts[0].instance_seq
    with omis.db.session() as session:
        rows = session.execute(select(InstanceRow.revision, InstanceRow.is_latest, InstanceRow.sha256)
                               .order_by(InstanceRow.revision)).all()
        submodel_rows = session.execute(select(func.count()).select_from(SubmodelRow)).scalar_one()
    assert [tuple(r) for r in rows] == [(n, n == 3, sent[n].sha256) for n in (1, 2, 3)]
    assert submodel_rows == len(render_instance("sales-order-status", status, PEC).submodels)  # indexed once
    assert count(omis, InboxRow) == 3
    assert omis.instances.get("sales-order-status", key, origin="pec").business()["status"] == "shipped"


def test_record_referring_to_a_file_not_stored_here_raises_missing_files_and_stores_nothing(
        pec: AadsysContext, omis: AadsysContext) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(256)
    digest = hashlib.sha256(png).hexdigest()

    async def upload() -> None:
        async def body() -> AsyncIterator[bytes]:
            yield png
        await pec.files.put(body(), "image/png", max_bytes=1024)

    anyio.run(upload)
    item = {**CANONICAL_ORDER["items"][0], "labelImage": {"sha256": digest, "contentType": "image/png"}}
    plain, labelled = sales_order(pec, "SO-1"), sales_order(pec, "SO-2", items=[item])

    with pytest.raises(MissingFiles) as missing:
        receive(omis, arrival_of(plain, seq=1), arrival_of(labelled, seq=2))

    assert missing.value.digests == [digest]
    assert (count(omis, InstanceRow), count(omis, InboxRow)) == (0, 0)


def versioned_at_consumer(pec: AadsysContext, omis: AadsysContext) -> tuple[dict[str, object], list[Arrival]]:
    """Revisions 1 and 2 of a status record, both stored at OMIS by the real-time subscription sub-1."""
    status = record("sales-order-status")
    pec.instances.create("sales-order-status", status)
    pec.instances.create("sales-order-status", {**status, "status": "completed"})
    arrivals = [arrival_of(pec.instances.get("sales-order-status", status["orderId"], revision=n), seq=n)
                for n in (1, 2)]
    receive(omis, *arrivals)
    return status, arrivals


def test_an_older_revision_already_stored_by_another_subscription_is_stored_as_the_same_instance(
        pec: AadsysContext, omis: AadsysContext) -> None:
    status, (first, _) = versioned_at_consumer(pec, omis)
    stored_first = omis.instances.get("sales-order-status", status["orderId"], 1, origin="pec")

    (receipt,) = receive(omis, first, provenance=Provenance("sub-history", PEC, "org-pec"))

    assert receipt == Receipt(1, Outcome.STORED, stored_first.seq)
    assert count(omis, InstanceRow) == 2


def test_other_content_under_an_older_stored_revision_is_refused(pec: AadsysContext, omis: AadsysContext) -> None:
    status, _ = versioned_at_consumer(pec, omis)
    other = render_instance("sales-order-status", {**status, "currentStation": "capping"}, PEC, revision=1)
    arrival = Arrival(1, "sales-order-status", other.key, 1, datetime.now(UTC), other.sha256, other.aas_json)

    with pytest.raises(RecordRefused):
        receive(omis, arrival, provenance=Provenance("sub-history", PEC, "org-pec"))

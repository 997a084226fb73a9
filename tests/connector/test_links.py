"""One-time links (DESIGN §4): a 256-bit token, bound to one consumer's key, valid for minutes, used once."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from aadsys.gateway.context import AadsysContext
from connector._identity import Identity
from connector._metrics import ConnectorMetrics
from connector._sealing import Sealer, prove
from connector.codes import Code
from connector.control._ledger import Ledger
from connector.data._links import Link, Links, NewLink, token_hash
from connector.errors import LinkRefused
from connector.spi import Role
from connector.tables import LinkRow
from tests.connector.channel_pair import ManualClock

SUB = "sub-1"
TTL = 300
FILE_SHA = hashlib.sha256(b"label image").hexdigest()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def links(pec: AadsysContext, clock: ManualClock) -> Links:
    return Links(pec.db, TTL, clock, ConnectorMetrics(pec.metrics))


def file_link(seq: int = 1) -> NewLink:
    seal = Sealer.new_file_seal()
    return NewLink(kind="file", seq=seq, salt=seal.salt, nonce=seal.nonce, file_sha256=FILE_SHA)


def issue(links: Links, consumer: Identity, *new: NewLink) -> list[str]:
    return links.issue(SUB, consumer.signing_key, consumer.encryption_key, list(new or [file_link()]))


def use(links: Links, token: str, by: Identity) -> Link:
    return links.consume(token, prove(by, "link", token))


def refusal(links: Links, token: str, proof: str | None) -> LinkRefused:
    with pytest.raises(LinkRefused) as refused:
        links.consume(token, proof)
    return refused.value


def test_issued_link_is_used_with_the_consumers_proof(links: Links, consumer: Identity) -> None:
    new = file_link(seq=4)
    (token,) = issue(links, consumer, new)

    link = use(links, token, consumer)

    assert link == Link(SUB, 4, "file", None, FILE_SHA, new.salt, new.nonce, None, consumer.encryption_key)


def test_token_is_256_random_bits_and_only_its_hash_is_kept(pec: AadsysContext, links: Links,
                                                            consumer: Identity) -> None:
    first, second = issue(links, consumer, file_link(1), file_link(2))

    assert first != second and len(first) >= 43
    with pec.db.session() as session:
        kept = set(session.execute(select(LinkRow.token_sha256)).scalars())  # type: ignore[call-overload]
    assert kept == {token_hash(first), token_hash(second)}


def test_second_use_of_one_time_link_is_gone(links: Links, consumer: Identity) -> None:
    (token,) = issue(links, consumer)
    use(links, token, consumer)

    gone = refusal(links, token, prove(consumer, "link", token))

    assert gone.status == 410 and gone.retry


def test_proof_by_another_key_is_forbidden_and_does_not_use_the_link_up(
        links: Links, consumer: Identity, stranger: Identity) -> None:
    (token,) = issue(links, consumer)

    assert refusal(links, token, prove(stranger, "link", token)).status == 403
    assert refusal(links, token, None).status == 403
    assert refusal(links, token, prove(consumer, "channel", token)).status == 403

    assert use(links, token, consumer).seq == 1


def test_unknown_token_is_not_found(links: Links, consumer: Identity) -> None:
    issue(links, consumer)

    assert refusal(links, "no-such-token", prove(consumer, "link", "no-such-token")).status == 404


def test_link_used_after_its_ttl_is_gone(links: Links, consumer: Identity, clock: ManualClock) -> None:
    (token,) = issue(links, consumer)
    clock.advance(TTL + 1)

    assert refusal(links, token, prove(consumer, "link", token)).status == 410


def test_link_used_just_before_its_ttl_works(links: Links, consumer: Identity, clock: ManualClock) -> None:
    (token,) = issue(links, consumer)
    clock.advance(TTL - 5)

    assert use(links, token, consumer).seq == 1


def test_new_links_for_the_same_seq_make_the_older_unused_one_stop_working(
        links: Links, consumer: Identity) -> None:
    (old,) = issue(links, consumer, file_link(seq=1))
    (other_seq,) = issue(links, consumer, file_link(seq=2))

    (new,) = issue(links, consumer, file_link(seq=1))

    assert refusal(links, old, prove(consumer, "link", old)).status == 410
    assert use(links, new, consumer).seq == 1
    assert use(links, other_seq, consumer).seq == 2


def test_delivered_stamps_used_links_only(pec: AadsysContext, links: Links, consumer: Identity) -> None:
    used, unused, other = issue(links, consumer, file_link(seq=1), file_link(seq=2), file_link(seq=3))
    use(links, used, consumer)
    use(links, other, consumer)

    links.delivered(SUB, [1, 2])

    with pec.db.session() as session:
        stamped = {row.token_sha256: row.delivered_at for row in session.execute(select(LinkRow)).scalars()}
    assert stamped[token_hash(used)] is not None
    assert stamped[token_hash(unused)] is None
    assert stamped[token_hash(other)] is None  # used, but its record is not confirmed stored yet


def subscription_at_provider(pec: AadsysContext, state: str, valid_to: str = "2099-01-01T00:00:00Z") -> None:
    """The provider's ledger row of ``SUB``, as its control plane keeps it (the portal's state)."""
    Ledger(pec.db).upsert({"id": SUB, "consumerOrgId": "omis", "providerOrgId": "pec", "consumerName": "OMIS",
                           "providerName": "PEC", "assetId": "asset-1", "assetType": "sales-order",
                           "mode": "realtime", "validFrom": "2026-01-01T00:00:00Z", "validTo": valid_to,
                           "state": state}, Role.PROVIDER, "pec")


@pytest.mark.parametrize(("state", "valid_to", "code"), [
    ("revoked", "2099-01-01T00:00:00Z", Code.REVOKED), ("cancelled", "2099-01-01T00:00:00Z", Code.CANCELLED),
    ("expired", "2099-01-01T00:00:00Z", Code.EXPIRED), ("active", "2026-01-02T00:00:00Z", Code.WINDOW_ENDED)])
def test_a_link_dies_with_its_subscription_and_says_why(pec: AadsysContext, links: Links, consumer: Identity,
                                                        state: str, valid_to: str, code: Code) -> None:
    subscription_at_provider(pec, "active", valid_to)
    (token,) = issue(links, consumer)
    subscription_at_provider(pec, state, valid_to)

    gone = refusal(links, token, prove(consumer, "link", token))

    assert (gone.status, gone.code) == (410, code)
    assert "links work no more" in gone.reason


def test_a_link_of_a_standing_subscription_works(pec: AadsysContext, links: Links, consumer: Identity) -> None:
    subscription_at_provider(pec, "active")
    (token,) = issue(links, consumer)

    assert use(links, token, consumer).subscription_id == SUB

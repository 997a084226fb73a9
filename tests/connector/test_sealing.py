"""Payload security (DESIGN §4): what the provider seals opens only for its consumer, unchanged, or not at all."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest

from aas_models import base64url
from connector._identity import Identity
from connector._sealing import (
    FileSeal,
    Opener,
    Sealed,
    Sealer,
    canonical,
    file_binding,
    prove,
    verify_proof,
)
from connector.errors import SealBroken

RECORD = b'{"assetAdministrationShells":[{"id":"https://pec.example/ids/aas/so-1001"}]}'


def fields_for(plaintext: bytes, **changes: object) -> dict[str, object]:
    return {"subscriptionId": "sub-1", "seq": 7, "instanceKey": "SO-1001", "assetType": "sales-order",
            "sha256": hashlib.sha256(plaintext).hexdigest(), **changes}


@pytest.fixture
def sealer(provider: Identity, consumer: Identity) -> Sealer:
    return Sealer(provider, consumer.encryption_key)


@pytest.fixture
def opener(provider: Identity, consumer: Identity) -> Opener:
    return Opener(consumer, provider.signing_key, provider.encryption_key)


def open_sealed(opener: Opener, sealed: Sealed) -> tuple[dict[str, object], bytes]:
    return opener.open(sealed.header, sealed.ciphertext, sealed.signature)


def refusal(opener: Opener, sealed: Sealed) -> str:
    with pytest.raises(SealBroken) as refused:
        open_sealed(opener, sealed)
    return refused.value.code


# -- records -----------------------------------------------------------------------------------------------------

def test_sealed_record_opens_for_its_consumer_to_the_same_bytes_with_its_header(
        sealer: Sealer, opener: Opener, provider: Identity, consumer: Identity) -> None:
    sealed = sealer.seal(fields_for(RECORD), RECORD)

    fields, plaintext = open_sealed(opener, sealed)

    assert plaintext == RECORD
    assert RECORD not in sealed.ciphertext
    assert fields["subscriptionId"] == "sub-1" and fields["seq"] == 7 and fields["instanceKey"] == "SO-1001"
    assert fields["sha256"] == hashlib.sha256(RECORD).hexdigest()
    assert fields["sender"] == provider.signing_key and fields["recipient"] == consumer.encryption_key


def test_each_seal_of_the_same_record_uses_fresh_salt_and_nonce(sealer: Sealer) -> None:
    first, second = sealer.seal(fields_for(RECORD), RECORD), sealer.seal(fields_for(RECORD), RECORD)

    assert first.ciphertext != second.ciphertext
    assert orjson.loads(first.header)["nonce"] != orjson.loads(second.header)["nonce"]


def test_one_flipped_ciphertext_byte_breaks_the_signature(sealer: Sealer, opener: Opener) -> None:
    sealed = sealer.seal(fields_for(RECORD), RECORD)
    flipped = bytearray(sealed.ciphertext)
    flipped[len(flipped) // 2] ^= 0x01

    assert refusal(opener, Sealed(sealed.header, bytes(flipped), sealed.signature)) == "bad-signature"


def test_changed_header_field_under_the_old_signature_breaks_the_signature(sealer: Sealer, opener: Opener) -> None:
    sealed = sealer.seal(fields_for(RECORD), RECORD)
    header = canonical({**orjson.loads(sealed.header), "seq": 8})

    assert refusal(opener, Sealed(header, sealed.ciphertext, sealed.signature)) == "bad-signature"


def test_changed_header_re_signed_by_another_provider_key_is_from_the_wrong_sender(
        stranger: Identity, consumer: Identity, opener: Opener) -> None:
    forged = Sealer(stranger, consumer.encryption_key).seal(fields_for(RECORD, seq=8), RECORD)

    assert refusal(opener, forged) == "wrong-sender"


def test_message_sealed_for_another_consumer_is_for_the_wrong_recipient(
        provider: Identity, stranger: Identity, opener: Opener) -> None:
    elsewhere = Sealer(provider, stranger.encryption_key).seal(fields_for(RECORD), RECORD)

    assert refusal(opener, elsewhere) == "wrong-recipient"


def test_signed_plaintext_whose_sha256_differs_from_the_header_is_a_digest_mismatch(
        sealer: Sealer, opener: Opener) -> None:
    sealed = sealer.seal(fields_for(RECORD, sha256=hashlib.sha256(b"another record").hexdigest()), RECORD)

    assert refusal(opener, sealed) == "digest-mismatch"


@pytest.mark.parametrize("change", [{"v": 2}, {"alg": "RSA-OAEP/A128GCM/RS256"}])
def test_header_of_another_version_or_algorithm_is_unsupported(
        sealer: Sealer, opener: Opener, change: dict[str, object]) -> None:
    sealed = sealer.seal(fields_for(RECORD), RECORD)
    header = canonical({**orjson.loads(sealed.header), **change})

    assert refusal(opener, Sealed(header, sealed.ciphertext, sealed.signature)) == "unsupported"


def test_header_that_is_not_json_is_malformed(sealer: Sealer, opener: Opener) -> None:
    sealed = sealer.seal(fields_for(RECORD), RECORD)

    assert refusal(opener, Sealed("{not json", sealed.ciphertext, sealed.signature)) == "malformed-header"


def test_reseal_gives_exactly_the_announced_ciphertext(sealer: Sealer, opener: Opener) -> None:
    announced = sealer.seal(fields_for(RECORD), RECORD)

    ciphertext = sealer.reseal(announced.header, RECORD)

    assert ciphertext == announced.ciphertext
    assert open_sealed(opener, Sealed(announced.header, ciphertext, announced.signature))[1] == RECORD


# -- file streams ------------------------------------------------------------------------------------------------

FILE_BYTES = 3 * 1024 * 1024
IRREGULAR = (1, 7, 15, 16, 17, 4093, 65_537, 3, 250_000, 31)


@pytest.fixture(scope="module")
def content() -> bytes:
    return os.urandom(FILE_BYTES)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def irregular_chunks(data: bytes) -> AsyncIterator[bytes]:
    start = 0
    for size in itertools.cycle(IRREGULAR):
        if start >= len(data):
            return
        yield data[start:start + size]
        start += size


async def decrypt(opener: Opener, encrypted: bytes, seal: FileSeal, binding: bytes) -> bytes:
    return b"".join([chunk async for chunk in opener.decrypt_file(irregular_chunks(encrypted), seal, binding)])


@pytest.fixture
def file_seal() -> FileSeal:
    return Sealer.new_file_seal()


@pytest.fixture
def binding(content: bytes) -> bytes:
    return file_binding("sub-1", hashlib.sha256(content).hexdigest())


@pytest.fixture
def encrypted(sealer: Sealer, content: bytes, file_seal: FileSeal, binding: bytes) -> bytes:
    return b"".join(sealer.encrypt_file(chunked(content, 256 * 1024), file_seal, binding))


@pytest.mark.anyio
async def test_file_encrypted_in_chunks_decrypts_from_irregular_chunks_to_the_same_bytes(
        opener: Opener, content: bytes, encrypted: bytes, file_seal: FileSeal, binding: bytes) -> None:
    assert len(encrypted) == len(content) + 16
    assert await decrypt(opener, encrypted, file_seal, binding) == content


@pytest.mark.anyio
@pytest.mark.parametrize("where", [0, FILE_BYTES // 2, FILE_BYTES - 1, FILE_BYTES + 15],
                         ids=["first", "middle", "last-content", "tag"])
async def test_one_flipped_file_byte_anywhere_is_undecryptable_at_the_end(
        opener: Opener, encrypted: bytes, file_seal: FileSeal, binding: bytes, where: int) -> None:
    flipped = bytearray(encrypted)
    flipped[where] ^= 0x80

    with pytest.raises(SealBroken) as refused:
        await decrypt(opener, bytes(flipped), file_seal, binding)
    assert refused.value.code == "undecryptable"


@pytest.mark.anyio
async def test_file_bound_to_another_subscription_is_undecryptable(
        opener: Opener, content: bytes, encrypted: bytes, file_seal: FileSeal) -> None:
    other = file_binding("sub-2", hashlib.sha256(content).hexdigest())

    with pytest.raises(SealBroken) as refused:
        await decrypt(opener, encrypted, file_seal, other)
    assert refused.value.code == "undecryptable"


@pytest.mark.anyio
async def test_truncated_file_stream_is_refused(
        opener: Opener, encrypted: bytes, file_seal: FileSeal, binding: bytes) -> None:
    with pytest.raises(SealBroken) as refused:
        await decrypt(opener, encrypted[:-10], file_seal, binding)
    assert refused.value.code in {"truncated", "undecryptable"}


@pytest.mark.anyio
@pytest.mark.parametrize("kept", [0, 15])
async def test_file_stream_shorter_than_its_tag_is_truncated(
        opener: Opener, encrypted: bytes, file_seal: FileSeal, binding: bytes, kept: int) -> None:
    with pytest.raises(SealBroken) as refused:
        await decrypt(opener, encrypted[:kept], file_seal, binding)
    assert refused.value.code == "truncated"


# -- proofs ------------------------------------------------------------------------------------------------------

def test_proof_verifies_for_the_signers_key_purpose_and_parts(provider: Identity) -> None:
    proof = prove(provider, "channel", "nonce-1", "grant-digest")

    assert verify_proof(provider.signing_key, proof, "channel", "nonce-1", "grant-digest")


def test_proof_does_not_verify_for_another_key(provider: Identity, stranger: Identity) -> None:
    assert not verify_proof(stranger.signing_key, prove(provider, "link", "token-1"), "link", "token-1")


def test_proof_does_not_verify_for_another_purpose(provider: Identity) -> None:
    assert not verify_proof(provider.signing_key, prove(provider, "link", "token-1"), "channel", "token-1")


@pytest.mark.parametrize("parts", [("token-2",), ("token-1", "more"), ()])
def test_proof_does_not_verify_for_changed_parts(provider: Identity, parts: tuple[str, ...]) -> None:
    assert not verify_proof(provider.signing_key, prove(provider, "link", "token-1"), "link", *parts)


@pytest.mark.parametrize("signature", ["", "not base64 at all!", "A", base64url.encode(b"\x00" * 64),
                                       base64url.encode(os.urandom(10))],
                         ids=["empty", "not-base64", "too-short", "zeros", "random"])
def test_garbage_signature_is_not_a_proof(provider: Identity, signature: str) -> None:
    assert not verify_proof(provider.signing_key, signature, "link", "token-1")


def test_garbage_signing_key_verifies_nothing(provider: Identity) -> None:
    assert not verify_proof("not-a-key", prove(provider, "link", "token-1"), "link", "token-1")

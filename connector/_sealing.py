"""Payload security (DESIGN §4): signed by the provider, sealed for the consumer, end to end.

One way in for each job: ``Sealer.seal`` and ``Opener.open`` for records, ``Sealer.encrypt_file`` and
``Opener.decrypt_file`` for file content, ``prove``/``verify_proof`` for the channel handshake and link use.

Sealing a record:

1. key = HKDF-SHA256(X25519(provider, consumer), salt = 16 fresh random bytes, info = "aadsys/v1/payload")
   (RFC 5869, RFC 7748); both static keys are the ones registered at the portal.
2. ciphertext = AES-256-GCM(key, nonce = 12 fresh random bytes, plaintext, aad = the header's bytes),
   so every header field (subscription, seq, key, sha256, sender, recipient …) is bound to the ciphertext.
3. signature = Ed25519(provider, "aadsys/v1/seal" ‖ header ‖ SHA-256(ciphertext)) (RFC 8032).

The consumer checks, in order: the header names it as recipient and the expected provider as sender, the
signature, decryption, and the plaintext's SHA-256 against the header. Only then does the record go on to
its asset type's checks and the store.

File content is encrypted the same way (its own salt and nonce, aad = subscription and sha256), as one
AES-GCM stream with the 16-byte tag at its end, so a 20 MB file passes through in chunks and never whole.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aas_models import base64url
from connector._identity import Identity, signing_public_key
from connector.codes import Code
from connector.errors import SealBroken

ALGORITHM = "X25519+HKDF-SHA256/A256GCM/Ed25519"
VERSION = 1
TAG_BYTES = 16
CHUNK_BYTES = 256 * 1024
_SEAL_DOMAIN = b"aadsys/v1/seal\n"
_PROOF_DOMAIN = b"aadsys/v1/proof\n"


@dataclass(frozen=True, slots=True)
class Sealed:
    header: str  # canonical JSON; its UTF-8 bytes are the AEAD associated data and part of what is signed
    ciphertext: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class FileSeal:
    """How one file's content is encrypted; travels inside the signed header."""

    salt: str
    nonce: str


def canonical(header: dict[str, Any]) -> str:
    return orjson.dumps(header, option=orjson.OPT_SORT_KEYS).decode()


def file_binding(subscription_id: str, sha256: str) -> bytes:
    return f"aadsys/v1/file|{subscription_id}|{sha256}".encode()


def _key(shared: bytes, salt: bytes, purpose: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=salt, info=b"aadsys/v1/" + purpose).derive(shared)


def _signed_bytes(header: bytes, ciphertext: bytes) -> bytes:
    return _SEAL_DOMAIN + header + b"\n" + hashlib.sha256(ciphertext).digest()


class Sealer:
    """The provider's side of one consumer: seals records and file content for it alone."""

    def __init__(self, identity: Identity, consumer_encryption_key: str) -> None:
        self.identity = identity
        self.recipient = consumer_encryption_key
        self._shared = identity.encryption.exchange(X25519PublicKey.from_public_bytes(
            base64url.decode(consumer_encryption_key)))

    def seal(self, fields: dict[str, Any], plaintext: bytes) -> Sealed:
        """Encrypt ``plaintext`` for the consumer under a header of ``fields`` with a fresh salt and nonce, and
        sign both (``reseal`` re-creates the ciphertext from the header, for a one-time link)."""
        salt, nonce = os.urandom(16), os.urandom(12)
        header = canonical({**fields, "v": VERSION, "alg": ALGORITHM, "sender": self.identity.signing_key,
                            "recipient": self.recipient, "salt": base64url.encode(salt),
                            "nonce": base64url.encode(nonce)})
        header_bytes = header.encode()
        ciphertext = AESGCM(_key(self._shared, salt, b"payload")).encrypt(nonce, plaintext, header_bytes)
        return Sealed(header, ciphertext, self.identity.sign(_signed_bytes(header_bytes, ciphertext)))

    def reseal(self, header: str, plaintext: bytes) -> bytes:
        """The ciphertext of a header made by ``seal`` (same salt and nonce give the same bytes)."""
        fields = orjson.loads(header)
        key = _key(self._shared, base64url.decode(fields["salt"]), b"payload")
        return AESGCM(key).encrypt(base64url.decode(fields["nonce"]), plaintext, header.encode())

    @staticmethod
    def new_file_seal() -> FileSeal:
        return FileSeal(base64url.encode(os.urandom(16)), base64url.encode(os.urandom(12)))

    def encrypt_file(self, chunks: Iterator[bytes], seal: FileSeal, binding: bytes) -> Iterator[bytes]:
        """The ciphertext of a file's content, chunk by chunk, then the GCM tag."""
        encryptor = Cipher(algorithms.AES(_key(self._shared, base64url.decode(seal.salt), b"file")),
                           modes.GCM(base64url.decode(seal.nonce))).encryptor()
        encryptor.authenticate_additional_data(binding)
        for chunk in chunks:
            yield encryptor.update(chunk)
        yield encryptor.finalize() + encryptor.tag


class Opener:
    """The consumer's side of one provider: checks and opens what that provider sealed for us."""

    def __init__(self, identity: Identity, provider_signing_key: str, provider_encryption_key: str) -> None:
        self.identity = identity
        self.sender = provider_signing_key
        self._verifier = signing_public_key(provider_signing_key)
        self._shared = identity.encryption.exchange(X25519PublicKey.from_public_bytes(
            base64url.decode(provider_encryption_key)))

    def read_header(self, header: str) -> dict[str, Any]:
        """The header's fields, if it is addressed to us by our provider (not yet proof of anything)."""
        try:
            fields = orjson.loads(header)
        except orjson.JSONDecodeError:
            raise SealBroken(Code.MALFORMED_HEADER, "the header is not JSON") from None
        if not isinstance(fields, dict) or fields.get("v") != VERSION or fields.get("alg") != ALGORITHM:
            raise SealBroken(Code.UNSUPPORTED, f"the header is not a version {VERSION} {ALGORITHM} seal")
        if fields.get("recipient") != self.identity.encryption_key:
            raise SealBroken(Code.WRONG_RECIPIENT, "the message is sealed for another consumer's key")
        if fields.get("sender") != self.sender:
            raise SealBroken(Code.WRONG_SENDER, "the message names a signing key other than the provider's "
                                             "registered one")
        return fields

    def open(self, header: str, ciphertext: bytes, signature: bytes, *, fields: dict[str, Any] | None = None
             ) -> tuple[dict[str, Any], bytes]:
        """The header's fields and the plaintext, after every check passed; ``SealBroken`` names the one failed.

        ``fields`` is what ``read_header`` already returned for this header, if the caller has it."""
        fields = self.read_header(header) if fields is None else fields
        header_bytes = header.encode()
        try:
            self._verifier.verify(signature, _signed_bytes(header_bytes, ciphertext))
        except InvalidSignature:
            raise SealBroken(Code.BAD_SIGNATURE, "the provider's signature over header and ciphertext does not "
                                              "verify") from None
        try:
            key = _key(self._shared, base64url.decode(fields["salt"]), b"payload")
            plaintext = AESGCM(key).decrypt(base64url.decode(fields["nonce"]), ciphertext, header_bytes)
        except (InvalidTag, ValueError, KeyError, TypeError):
            raise SealBroken(Code.UNDECRYPTABLE, "the ciphertext does not decrypt under our key") from None
        if hashlib.sha256(plaintext).hexdigest() != fields.get("sha256"):
            raise SealBroken(Code.DIGEST_MISMATCH, "the plaintext's sha256 differs from the header's")
        return fields, plaintext

    async def decrypt_file(self, chunks: AsyncIterator[bytes], seal: FileSeal, binding: bytes
                           ) -> AsyncIterator[bytes]:
        """Plaintext chunks of an encrypted file stream; raises ``SealBroken`` at the end if the tag is wrong.

        The caller writes the chunks somewhere temporary and keeps them only if this ends without error.
        """
        try:
            decryptor = Cipher(algorithms.AES(_key(self._shared, base64url.decode(seal.salt), b"file")),
                               modes.GCM(base64url.decode(seal.nonce))).decryptor()
        except ValueError as exc:
            raise SealBroken(Code.MALFORMED_HEADER, f"bad file salt or nonce: {exc}") from None
        decryptor.authenticate_additional_data(binding)
        held = b""
        async for chunk in chunks:
            held += chunk
            if len(held) > TAG_BYTES:
                body, held = held[:-TAG_BYTES], held[-TAG_BYTES:]
                yield decryptor.update(body)
        if len(held) != TAG_BYTES:
            raise SealBroken(Code.TRUNCATED, "the file stream ended before its tag")
        try:
            yield decryptor.finalize_with_tag(held)
        except InvalidTag:
            raise SealBroken(Code.UNDECRYPTABLE, "the file's content fails its authentication tag") from None


def prove(identity: Identity, purpose: str, *parts: str) -> str:
    """Our Ed25519 signature over ``purpose`` and ``parts``: a channel handshake, or the use of a link."""
    return base64url.encode(identity.sign(_proof_bytes(purpose, parts)))


def verify_proof(signing_key: str, signature: str, purpose: str, *parts: str) -> bool:
    try:
        signing_public_key(signing_key).verify(base64url.decode(signature),
                                                                          _proof_bytes(purpose, parts))
    except (InvalidSignature, ValueError):
        return False
    return True


def _proof_bytes(purpose: str, parts: tuple[str, ...]) -> bytes:
    return _PROOF_DOMAIN + "\n".join((purpose, *parts)).encode()

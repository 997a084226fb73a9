"""The one base64url of every package: RFC 4648 §5 without padding, and back with or without it."""

from __future__ import annotations

import base64
import random

from aas_models import base64url


def test_encodes_as_the_standard_library_does_without_padding_and_decodes_back() -> None:
    rng = random.Random(20261207)
    for size in range(0, 70):
        data = bytes(rng.getrandbits(8) for _ in range(size))
        encoded = base64url.encode(data)
        assert encoded == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        assert base64url.decode(encoded) == data == base64url.decode(base64.urlsafe_b64encode(data).decode())
    assert base64url.encode_text("https://pec.example/ids/aas/sales-order/SO-1001?") == \
        "aHR0cHM6Ly9wZWMuZXhhbXBsZS9pZHMvYWFzL3NhbGVzLW9yZGVyL1NPLTEwMDE_"

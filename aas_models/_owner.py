"""The owner of the shells: an organisation and the IRI base its identifiers live under (DESIGN §3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_BASE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~-]+)*$")


@dataclass(frozen=True, slots=True)
class Owner:
    """``Owner("pec", "https://pec.example")``: ids become ``https://pec.example/ids/...``, ``urn:pec:...``."""

    org: str
    base_iri: str

    def __post_init__(self) -> None:
        if not _ORG.match(self.org):
            raise ValueError(f"org '{self.org}' must be lower-case letters, digits and '-', as it goes into URNs")
        if not _BASE.match(self.base_iri):
            raise ValueError(f"base IRI '{self.base_iri}' must be an http(s) URL without query or trailing slash, "
                             "e.g. https://pec.example")

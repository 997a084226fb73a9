"""Errors of the vocabulary: each carries the field (business JSON) or path (AAS JSON) and the rule broken."""

from __future__ import annotations


class AasModelError(Exception):
    """Base of every error ``aas_models`` raises."""


class UnknownAssetType(AasModelError, LookupError):
    def __init__(self, slug: str, known: list[str]) -> None:
        super().__init__(f"asset type '{slug}' is unknown; use one of: {', '.join(known)}")
        self.slug = slug


class RecordInvalid(AasModelError, ValueError):
    """A business record breaks its model. ``errors`` is ``[{"field": "items[0].quantity", "message": ...}]``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        super().__init__(summary or "the record is invalid")


class AasInvalid(AasModelError, ValueError):
    """AAS JSON breaks the metamodel or our templates. ``errors`` is ``[{"path": ..., "message": ...}]``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3])
        super().__init__(summary or "the AAS JSON is invalid")

"""The identifier scheme of DESIGN §3, in one place."""

from __future__ import annotations

import re

from aas_models._owner import Owner

KEY_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_NOT_ID_SHORT = re.compile(r"[^A-Za-z0-9_]")
# A File element names its file by content, as RFC 6920 §7 writes a sha-256 in hex: the same name at every
# AAdSys the record reaches, whatever URL a gateway serves the file under.
FILE_REFERENCE_PREFIX = "nih:sha-256;"
_FILE_REFERENCE = re.compile(re.escape(FILE_REFERENCE_PREFIX) + r"([0-9a-f]{64})")


def shell_id(owner: Owner, slug: str, key: str) -> str:
    return f"{owner.base_iri}/ids/aas/{slug}/{key}"


def submodel_id(owner: Owner, slug: str, key: str, id_short: str) -> str:
    return f"{owner.base_iri}/ids/sm/{slug}/{key}/{id_short}"


def type_shell_id(owner: Owner, slug: str) -> str:
    return f"{owner.base_iri}/ids/aas/type/{slug}"


def template_id(owner: Owner, slug: str, id_short: str) -> str:
    return f"{owner.base_iri}/ids/sm/type/{slug}/{id_short}"


def semantic_id(owner: Owner, semantic_name: str, version: str = "1", revision: str = "0") -> str:
    return f"{owner.base_iri}/ids/sm/{semantic_name}/{version}/{revision}"


def global_asset_id(owner: Owner, slug: str, key: str | None = None) -> str:
    return f"urn:{owner.org}:{slug}" + (f":{key}" if key is not None else "")


def instance_id_short(prefix: str, key: str) -> str:
    """Constraint AASd-002: an idShort starts with a letter and holds only letters, digits and '_'."""
    return f"{prefix}_{_NOT_ID_SHORT.sub('_', key)}"


def base_iri_of_type_shell(type_shell: str, slug: str) -> str:
    """The owner's IRI base, read back from its type shell's id; ``ValueError`` if the id is not of that form."""
    suffix = f"/ids/aas/type/{slug}"
    if not type_shell.endswith(suffix) or len(type_shell) == len(suffix):
        raise ValueError(f"'{type_shell}' is not the type shell id of a {slug} asset type (<base>{suffix})")
    return type_shell[: -len(suffix)]


def type_shell_of_instance(shell: str, slug: str, key: str) -> str | None:
    """The assetType of an instance shell, its owner's type shell id, read back from the shell's id; None when the
    id is not of the form ``<base>/ids/aas/<slug>/<key>``."""
    suffix = f"/ids/aas/{slug}/{key}"
    if not shell.endswith(suffix) or len(shell) == len(suffix):
        return None
    return f"{shell[: -len(suffix)]}/ids/aas/type/{slug}"


def instance_shell_prefix(type_shell: str, slug: str) -> str:
    """What the ids of a type shell's instance shells begin with; ``ValueError`` if it is no type shell id of
    ``slug``."""
    return f"{base_iri_of_type_shell(type_shell, slug)}/ids/aas/{slug}/"


def file_reference(sha256: str) -> str:
    """The value of a File element that names the stored file with this (lower-case hex) sha256."""
    return FILE_REFERENCE_PREFIX + sha256


def referenced_digest(value: str) -> str | None:
    """The sha256 a File element's value names, or None when it names no stored file."""
    match = _FILE_REFERENCE.fullmatch(value)
    return match.group(1) if match else None

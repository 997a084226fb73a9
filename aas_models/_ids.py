"""The identifier scheme of DESIGN §3, in one place."""

from __future__ import annotations

import re

from aas_models._owner import Owner

KEY_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_NOT_ID_SHORT = re.compile(r"[^A-Za-z0-9_]")


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

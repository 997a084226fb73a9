"""AAS vocabulary of AAdSys: records, templates, identifiers and the business <-> AAS v3.0 JSON mapping.

Pure: no I/O. basyx-python-sdk is the model of record (templates, type shells); instances are rendered
on a fast path that tests prove equal to what basyx reads and writes.

The names below are loaded when first used (PEP 562): rendering and validation import basyx and aas-core, which
take a good part of a second, and a command that only needs ``aas_models.base64url`` should not wait for them.
"""

import importlib
import typing

if typing.TYPE_CHECKING:
    from aas_models._errors import AasInvalid, AasModelError, RecordInvalid, UnknownAssetType
    from aas_models._ids import (
        KEY_PATTERN,
        base_iri_of_type_shell,
        file_reference,
        instance_shell_prefix,
        referenced_digest,
        type_shell_of_instance,
    )
    from aas_models._metadata import asset_type_metadata, type_environment, type_objects
    from aas_models._owner import Owner
    from aas_models._render import (
        RenderedInstance,
        business_json,
        canonical_record,
        instance_from_aas,
        map_file_references,
        referenced_files,
        render_instance,
    )
    from aas_models._types import ASSET_TYPES, AssetTypeSpec, asset_type, asset_types_named_by, specific_asset_ids
    from aas_models._validation import validate_environment

_HOMES = {
    "_errors": ("AasInvalid", "AasModelError", "RecordInvalid", "UnknownAssetType"),
    "_ids": ("KEY_PATTERN", "base_iri_of_type_shell", "file_reference", "instance_shell_prefix", "referenced_digest",
             "type_shell_of_instance"),
    "_metadata": ("asset_type_metadata", "type_environment", "type_objects"),
    "_owner": ("Owner",),
    "_render": ("RenderedInstance", "business_json", "canonical_record", "instance_from_aas", "map_file_references",
                "referenced_files", "render_instance"),
    "_types": ("ASSET_TYPES", "AssetTypeSpec", "asset_type", "asset_types_named_by", "specific_asset_ids"),
    "_validation": ("validate_environment",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ASSET_TYPES",
    "KEY_PATTERN",
    "AasInvalid",
    "AasModelError",
    "AssetTypeSpec",
    "Owner",
    "RecordInvalid",
    "RenderedInstance",
    "UnknownAssetType",
    "asset_type",
    "asset_types_named_by",
    "asset_type_metadata",
    "base_iri_of_type_shell",
    "business_json",
    "canonical_record",
    "file_reference",
    "instance_from_aas",
    "instance_shell_prefix",
    "map_file_references",
    "referenced_digest",
    "referenced_files",
    "render_instance",
    "specific_asset_ids",
    "type_shell_of_instance",
    "type_environment",
    "type_objects",
    "validate_environment",
]


def __getattr__(name: str) -> object:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'aas_models' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"aas_models.{home}"), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

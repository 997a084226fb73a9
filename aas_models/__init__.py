"""AAS vocabulary of AAdSys: records, templates, identifiers and the business <-> AAS v3.0 JSON mapping.

Pure: no I/O. basyx-python-sdk is the model of record (templates, type shells); instances are rendered
on a fast path that tests prove equal to what basyx reads and writes.
"""

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

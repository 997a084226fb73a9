"""Each package face exports exactly what it means to (``__all__``), as httpx checks its own: a name joins or
leaves the public API only with a change to this file."""

from __future__ import annotations

import importlib
import types

import pytest

FACES = {
    "aas_models": [
        "ASSET_TYPES", "AasInvalid", "AasModelError", "AssetTypeSpec", "KEY_PATTERN", "Owner", "RecordInvalid",
        "RenderedInstance", "UnknownAssetType", "asset_type", "asset_type_metadata", "asset_types_named_by",
        "base_iri_of_type_shell", "business_json", "canonical_record", "file_reference", "instance_from_aas",
        "instance_shell_prefix", "map_file_references", "referenced_digest", "referenced_files", "render_instance",
        "specific_asset_ids", "type_environment", "type_objects", "type_shell_of_instance", "validate_environment",
    ],
    "connector": [
        "ConfigurationError", "ConnectorError", "ConnectorExtension", "ConnectorSettings", "GrantRefused",
        "LinkRefused", "PortalError", "PortalRefused", "PortalUnavailable", "SealBroken", "load_connector_settings",
    ],
    "aadsys.gateway.part2": ["AasApiError", "AasRegistry", "AasRepository", "InMemoryAasRepository", "ResultRoute",
                             "aas_api_router", "result_route"],
}


@pytest.mark.parametrize("face", sorted(FACES))
def test_the_face_exports_exactly_its_public_api(face: str) -> None:
    module = importlib.import_module(face)
    assert sorted(module.__all__) == sorted(FACES[face])
    for name in module.__all__:
        assert getattr(module, name, None) is not None, f"{face}.__all__ names '{name}', which it lacks"
    public = {name for name, value in vars(module).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"}
    outside = sorted(public - set(module.__all__))
    assert not outside, f"{face} exposes names outside __all__: {outside}"

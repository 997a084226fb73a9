"""A small AAS environment that holds every element kind the Part 2 value serialization knows."""

from __future__ import annotations

import base64
from typing import Any

SHELL_ID = "https://omis.example/ids/aas/line/L1"
NAMEPLATE_ID = "https://omis.example/ids/sm/line/L1/Nameplate"
STATIONS_ID = "https://omis.example/ids/sm/line/L1/Stations"
THUMBNAIL = "/api/v1/files/" + "cd" * 32
MANUAL = "/api/v1/files/" + "ef" * 32
BLOB = b"\x00\x01 firmware \xff"


def _prop(id_short: str, value_type: str, value: str) -> dict[str, Any]:
    return {"idShort": id_short, "modelType": "Property", "valueType": value_type, "value": value}


def _ref(*keys: tuple[str, str]) -> dict[str, Any]:
    return {"type": "ModelReference", "keys": [{"type": t, "value": v} for t, v in keys]}


ENVIRONMENT: dict[str, Any] = {
    "assetAdministrationShells": [{
        "modelType": "AssetAdministrationShell", "id": SHELL_ID, "idShort": "BottlingLine",
        "assetInformation": {"assetKind": "Instance", "globalAssetId": "urn:omis:line:L1",
                             "specificAssetIds": [{"name": "serialNumber", "value": "SN-42"}],
                             "defaultThumbnail": {"path": THUMBNAIL, "contentType": "image/png"}},
        "submodels": [_ref(("Submodel", NAMEPLATE_ID)), _ref(("Submodel", STATIONS_ID))],
    }, {
        "modelType": "AssetAdministrationShell", "id": "https://omis.example/ids/aas/line/L2", "idShort": "Spare",
        "assetInformation": {"assetKind": "Instance", "globalAssetId": "urn:omis:line:L2"},
    }],
    "submodels": [{
        "modelType": "Submodel", "id": NAMEPLATE_ID, "idShort": "Nameplate",
        "semanticId": {"type": "ExternalReference", "keys": [{"type": "GlobalReference",
                                                              "value": "https://omis.example/ids/sm/Nameplate/1/0"}]},
        "submodelElements": [
            _prop("stations", "xs:int", "6"),
            _prop("running", "xs:boolean", "true"),
            _prop("speed", "xs:double", "1.5"),
            _prop("maker", "xs:string", "OMIS"),
            {"idShort": "motto", "modelType": "MultiLanguageProperty",
             "value": [{"language": "en", "text": "Fresh"}, {"language": "ms", "text": "Segar"}]},
            {"idShort": "temperature", "modelType": "Range", "valueType": "xs:int", "min": "2", "max": "8"},
            {"idShort": "manual", "modelType": "File", "contentType": "application/pdf", "value": MANUAL},
            {"idShort": "firmware", "modelType": "Blob", "contentType": "application/octet-stream",
             "value": base64.b64encode(BLOB).decode()},
            {"idShort": "operator", "modelType": "ReferenceElement",
             "value": _ref(("Submodel", STATIONS_ID))},
        ],
    }, {
        "modelType": "Submodel", "id": STATIONS_ID, "idShort": "Stations",
        "submodelElements": [
            {"idShort": "line", "modelType": "SubmodelElementCollection", "value": [
                _prop("name", "xs:string", "Line 1"),
                {"idShort": "stations", "modelType": "SubmodelElementList", "orderRelevant": True,
                 "typeValueListElement": "SubmodelElementCollection", "value": [
                     {"modelType": "SubmodelElementCollection", "value": [_prop("name", "xs:string", "filling")]},
                     {"modelType": "SubmodelElementCollection", "value": [_prop("name", "xs:string", "capping")]},
                 ]},
            ]},
            {"idShort": "robot", "modelType": "Entity", "entityType": "SelfManagedEntity",
             "globalAssetId": "urn:omis:robot:R1", "statements": [_prop("axes", "xs:int", "6")]},
            {"idShort": "feeds", "modelType": "RelationshipElement",
             "first": _ref(("Submodel", STATIONS_ID), ("SubmodelElementCollection", "line")),
             "second": _ref(("Submodel", NAMEPLATE_ID))},
        ],
    }],
}
FILES = {THUMBNAIL: (b"\x89PNG thumbnail", "image/png"), MANUAL: (b"%PDF-1.7 manual", "application/pdf")}

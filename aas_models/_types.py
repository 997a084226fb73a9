"""The asset types an AAdSys can hold: record model, templates and identity of each, by slug."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from pydantic.alias_generators import to_snake

from aas_models import _templates as t
from aas_models._errors import UnknownAssetType
from aas_models._plan import CollectionNode, compile_elements
from aas_models.records import JuiceProduct, Record, SalesOrder, SalesOrderStatus


@dataclass(frozen=True)
class AssetTypeSpec:
    slug: str
    name: str
    description: str
    key_field: str  # business field whose value is the instance key
    versioned: bool  # True: new content under the same key is a new revision, not a conflict
    record_model: type[Record]
    shell_prefix: str  # idShort of instance shells: <prefix>_<key>
    submodels: tuple[t.SubmodelDef, ...] = field(repr=False)
    # The SpecificAssetId (IDTA AAS Part 1 §5.3.4) that names an instance's asset to registries and discovery: its
    # name here, its value the instance key. One name per business id, so a lookup finds every record about it.
    asset_id: str

    @cached_property
    def key_attribute(self) -> str:
        return to_snake(self.key_field)

    @cached_property
    def plans(self) -> tuple[tuple[t.SubmodelDef, CollectionNode], ...]:
        return tuple((sm, compile_elements(sm.elements())) for sm in self.submodels)


ASSET_TYPES: dict[str, AssetTypeSpec] = {
    spec.slug: spec
    for spec in (
        AssetTypeSpec("sales-order", "Sales Order", "A PEC customer's order of individually mixed juices",
                      "orderId", False, SalesOrder, "SalesOrder", t.SALES_ORDER,
                      asset_id="orderId"),  # the order number
        AssetTypeSpec("sales-order-status", "Sales Order Status",
                      "OMIS production status of one sales order; each update is a new revision",
                      "orderId", True, SalesOrderStatus, "SalesOrderStatus", t.SALES_ORDER_STATUS,
                      asset_id="orderId"),  # the order number of the order it reports on
        AssetTypeSpec("juice-product", "Juice product", "A juice with its ingredients, nutrition and seasonal prices",
                      "productId", False, JuiceProduct, "JuiceProduct", t.JUICE_PRODUCT,
                      asset_id="productId"),  # the product code
    )
}


def specific_asset_ids(slug: str, key: str) -> list[dict[str, str]]:
    """The SpecificAssetIds of the instance ``key`` of asset type ``slug``."""
    return [{"name": asset_type(slug).asset_id, "value": key}]


def asset_types_named_by(asset_id: str) -> list[str]:
    """The asset types whose instances carry a SpecificAssetId of this name (none for an unknown name)."""
    return [spec.slug for spec in ASSET_TYPES.values() if spec.asset_id == asset_id]


def asset_type(slug: str) -> AssetTypeSpec:
    try:
        return ASSET_TYPES[slug]
    except KeyError:
        raise UnknownAssetType(slug, list(ASSET_TYPES)) from None

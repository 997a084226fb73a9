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
                      "orderId", False, SalesOrder, "SalesOrder", t.SALES_ORDER),
        AssetTypeSpec("sales-order-status", "Sales Order Status",
                      "OMIS production status of one sales order; each update is a new revision",
                      "orderId", True, SalesOrderStatus, "SalesOrderStatus", t.SALES_ORDER_STATUS),
        AssetTypeSpec("juice-product", "Juice product", "A juice with its ingredients, nutrition and seasonal prices",
                      "productId", False, JuiceProduct, "JuiceProduct", t.JUICE_PRODUCT),
    )
}


def asset_type(slug: str) -> AssetTypeSpec:
    try:
        return ASSET_TYPES[slug]
    except KeyError:
        raise UnknownAssetType(slug, list(ASSET_TYPES)) from None

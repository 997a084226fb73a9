"""Submodel templates of every asset type, defined with basyx-python-sdk (the model of record, DESIGN §3).

A template is the structure without values. Element idShorts equal the business JSON field names, so the
mapping both ways is read off the template (``_plan``) and never written twice. List items carry no
idShort (Constraint AASd-120); each list holds one item template that describes its members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from basyx.aas import model
from basyx.aas.model import datatypes as xs

Elements = Callable[[], list[model.SubmodelElement]]


@dataclass(frozen=True)
class SubmodelDef:
    id_short: str
    semantic_name: str
    description: str
    source: str | None  # business field this submodel carries; None: the record's top-level fields
    elements: Elements


def _en(text: str) -> model.MultiLanguageTextType:
    return model.MultiLanguageTextType({"en": text})


def text(id_short: str, description: str) -> model.Property:
    return model.Property(id_short, str, description=_en(description))


def integer(id_short: str, description: str) -> model.Property:
    return model.Property(id_short, xs.Int, description=_en(description))


def double(id_short: str, description: str) -> model.Property:
    return model.Property(id_short, xs.Double, description=_en(description))


def decimal(id_short: str, description: str) -> model.Property:
    return model.Property(id_short, xs.Decimal, description=_en(description))


def day(id_short: str, description: str) -> model.Property:
    return model.Property(id_short, xs.Date, description=_en(description))


def moment(id_short: str, description: str) -> model.Property:
    return model.Property(id_short, xs.DateTime, description=_en(description))


def file(id_short: str, description: str, content_type: str) -> model.File:
    # contentType is mandatory in AAS v3.0 JSON, so even the template names the usual one
    return model.File(id_short, content_type, description=_en(description))


def collection(id_short: str | None, description: str, *elements: model.SubmodelElement
               ) -> model.SubmodelElementCollection:
    return model.SubmodelElementCollection(id_short, list(elements), description=_en(description))


def list_of(id_short: str, description: str, item: model.SubmodelElementCollection
            ) -> model.SubmodelElementList[model.SubmodelElementCollection]:
    return model.SubmodelElementList(id_short, model.SubmodelElementCollection, [item], description=_en(description))


def _ingredients() -> model.SubmodelElementList[model.SubmodelElementCollection]:
    return list_of("ingredients", "the mix; ratios each in (0, 1] and summing to 1",
                   collection(None, "one ingredient of the mix",
                              text("ingredient", "ingredient name, e.g. orange"),
                              double("ratio", "share of the bottle, in (0, 1]")))


def _sales_order() -> list[model.SubmodelElement]:
    item = collection(
        None, "one ordered bottle type",
        text("product", "product code, e.g. custom-juice"),
        integer("bottleSizeMl", "bottle size in ml: 250, 330, 500, 750 or 1000"),
        integer("quantity", "number of bottles, > 0"),
        decimal("unitPrice", "price of one bottle in the order's currency"),
        _ingredients(),
        text("labelText", "text printed on the label"),
        file("labelImage", "label image, a file on the owner's AAdSys", "image/png"),
    )
    return [
        text("orderId", "the order's business id; the instance key"),
        moment("orderDate", "when the order was placed (UTC)"),
        collection("customer", "reference to the customer; no personal data beyond a display name",
                   text("id", "customer id at the shop"), text("displayName", "name to address the customer by")),
        text("channel", "sales channel: web, mobile, phone, store or marketplace"),
        text("currency", "ISO 4217 currency code"),
        list_of("items", "the ordered bottles", item),
        decimal("total", "sum of quantity x unitPrice over the items"),
        day("requestedDate", "delivery date the customer asked for"),
    ]


def _sales_order_status() -> list[model.SubmodelElement]:
    visit = collection(None, "one pass through a station, from the RFID trace",
                       text("station", "station name"), moment("entered", "when the bottle entered (UTC)"),
                       moment("left", "when the bottle left (UTC)"), text("result", "ok, failed or skipped"))
    return [
        text("orderId", "the order this status is for; the instance key"),
        text("status", "received, scheduled, in_production, completed, shipped, failed or cancelled"),
        text("currentStation", "the station the order is at"),
        text("rfidTag", "RFID tag id of the order's carrier"),
        list_of("trace", "stations passed, in order", visit),
        moment("updatedAt", "when this status was set (UTC)"),
    ]


def _ingredients_submodel() -> list[model.SubmodelElement]:
    return [text("productId", "the product's id; the instance key"), text("productName", "name on the shelf"),
            _ingredients()]


def _nutrition_facts() -> list[model.SubmodelElement]:
    return [integer("servingSizeMl", "serving size in ml"), decimal("energyKcal", "energy per serving, kcal"),
            decimal("carbohydrateG", "carbohydrates per serving, g"), decimal("sugarG", "sugar per serving, g"),
            decimal("proteinG", "protein per serving, g"), decimal("fatG", "fat per serving, g"),
            decimal("vitaminCMg", "vitamin C per serving, mg")]


def _seasonal_pricing() -> list[model.SubmodelElement]:
    price = collection(None, "the price of one bottle size in one season",
                       text("season", "season name"), day("validFrom", "first day"), day("validTo", "last day"),
                       integer("bottleSizeMl", "bottle size in ml"), decimal("unitPrice", "price of one bottle"))
    return [text("currency", "ISO 4217 currency code"), list_of("prices", "prices by season and size", price)]


SALES_ORDER = (SubmodelDef("SalesOrder", "SalesOrder", "A customer's order of individually mixed juices",
                           None, _sales_order),)
SALES_ORDER_STATUS = (SubmodelDef("SalesOrderStatus", "SalesOrderStatus",
                                  "Production progress of one sales order, station by station",
                                  None, _sales_order_status),)
JUICE_PRODUCT = (
    SubmodelDef("Ingredients", "Ingredients", "What the juice is made of", None, _ingredients_submodel),
    SubmodelDef("NutritionFacts", "NutritionFacts", "Nutrition per serving", "nutritionFacts", _nutrition_facts),
    SubmodelDef("SeasonalPricing", "SeasonalPricing", "Prices by season and bottle size", "seasonalPricing",
                _seasonal_pricing),
)

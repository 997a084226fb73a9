"""Business records as pydantic models: the rules a record must keep before it becomes a shell."""

from aas_models.records._juice_product import JuiceProduct, NutritionFacts, SeasonalPrice, SeasonalPricing
from aas_models.records._sales_order import Customer, LabelImage, OrderItem, SalesOrder
from aas_models.records._sales_order_status import SalesOrderStatus, StationVisit
from aas_models.records._shared import BOTTLE_SIZES_ML, Ingredient, Record

__all__ = [
    "BOTTLE_SIZES_ML",
    "Customer",
    "Ingredient",
    "JuiceProduct",
    "LabelImage",
    "NutritionFacts",
    "OrderItem",
    "Record",
    "SalesOrder",
    "SalesOrderStatus",
    "SeasonalPrice",
    "SeasonalPricing",
    "StationVisit",
]

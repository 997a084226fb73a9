"""One valid record of each asset type, shaped as the issue and DESIGN §3 describe them."""

from __future__ import annotations

import copy
from typing import Any

SALES_ORDER: dict[str, Any] = {
    "orderId": "SO-1001", "orderDate": "2026-11-22T10:15:00Z",
    "customer": {"id": "C-77", "displayName": "Aina"}, "channel": "web", "currency": "MYR",
    "items": [{"product": "custom-juice", "bottleSizeMl": 500, "quantity": 2, "unitPrice": "12.90",
               "ingredients": [{"ingredient": "orange", "ratio": 0.6}, {"ingredient": "carrot", "ratio": 0.4}],
               "labelText": "Happy birthday"}],
    "total": "25.80", "requestedDate": "2026-11-25",
}

SALES_ORDER_STATUS: dict[str, Any] = {
    "orderId": "SO-1001", "status": "in_production", "currentStation": "filling", "rfidTag": "E200-3412-0001",
    "trace": [
        {"station": "order-release", "entered": "2026-11-22T11:00:00Z", "left": "2026-11-22T11:00:05Z",
         "result": "ok"},
        {"station": "filling", "entered": "2026-11-22T11:00:09Z"},
    ],
    "updatedAt": "2026-11-22T11:00:09Z",
}

JUICE_PRODUCT: dict[str, Any] = {
    "productId": "JP-ORANGE-CARROT", "productName": "Orange Carrot Sunrise",
    "ingredients": [{"ingredient": "orange", "ratio": 0.7}, {"ingredient": "carrot", "ratio": 0.2},
                    {"ingredient": "ginger", "ratio": 0.1}],
    "nutritionFacts": {"servingSizeMl": 250, "energyKcal": "110", "carbohydrateG": "26.5", "sugarG": "21",
                       "proteinG": "1.2", "fatG": "0.3", "vitaminCMg": "62"},
    "seasonalPricing": {"currency": "MYR", "prices": [
        {"season": "monsoon", "validFrom": "2026-11-01", "validTo": "2027-02-28", "bottleSizeMl": 500,
         "unitPrice": "11.90"},
        {"season": "monsoon", "validFrom": "2026-11-01", "validTo": "2027-02-28", "bottleSizeMl": 1000,
         "unitPrice": "21.00"},
    ]},
}

RECORDS = {"sales-order": SALES_ORDER, "sales-order-status": SALES_ORDER_STATUS, "juice-product": JUICE_PRODUCT}


def record(slug: str) -> dict[str, Any]:
    """A fresh deep copy, so a test can break it freely."""
    return copy.deepcopy(RECORDS[slug])

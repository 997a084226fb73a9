"""What the shop sells: bottle sizes with their prices, and the ingredients a customer can mix."""

from __future__ import annotations

from decimal import Decimal

CURRENCY = "MYR"
PRODUCT = "custom-juice"
CHANNEL = "web"
REQUESTED_AFTER_DAYS = 3

BOTTLE_PRICES: dict[int, Decimal] = {
    250: Decimal("6.50"),
    330: Decimal("8.00"),
    500: Decimal("12.90"),
    750: Decimal("17.50"),
    1000: Decimal("22.00"),
}

INGREDIENTS: tuple[str, ...] = ("orange", "apple", "carrot", "mango", "pineapple", "guava", "lime", "ginger",
                                "beetroot", "kiwi")

MIN_INGREDIENTS, MAX_INGREDIENTS = 1, 5
MIN_QUANTITY, MAX_QUANTITY = 1, 24
MAX_LABEL_TEXT = 120
MAX_CUSTOMER_NAME = 80  # the Sales Order's customer.displayName allows 80

# The six stations of OMIS's line, in the order a bottle passes them.
STATIONS: tuple[str, ...] = ("loading", "mixing", "filling", "capping", "printing", "packaging")

"""Realistic sample records for the demo and the benchmarks (valid against the aas_models rules)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

INGREDIENTS = ["orange", "apple", "carrot", "mango", "pineapple", "guava", "lime", "ginger", "beetroot", "kiwi"]
BOTTLE_PRICES = {250: Decimal("6.50"), 500: Decimal("12.90"), 1000: Decimal("22.00")}
MESSAGES = ["Happy birthday", "Get well soon", "Congratulations", "Thank you", "Selamat Hari Raya"]


def _item(rng: random.Random, label_bytes: int) -> dict[str, Any]:
    size = rng.choice(list(BOTTLE_PRICES))
    first = rng.choice([0.25, 0.4, 0.5, 0.6, 0.75])
    a, b = rng.sample(INGREDIENTS, 2)
    label = rng.choice(MESSAGES)
    if label_bytes > len(label):
        label = (label + " - ") * (label_bytes // (len(label) + 3) + 1)
        label = label[:label_bytes]
    return {"product": "custom-juice", "bottleSizeMl": size, "quantity": rng.randint(1, 6),
            "unitPrice": str(BOTTLE_PRICES[size]),
            "ingredients": [{"ingredient": a, "ratio": first}, {"ingredient": b, "ratio": round(1 - first, 10)}],
            "labelText": label}


def sales_order(order_id: str, *, target_bytes: int = 2000, seed: int | None = None,
                ordered_at: datetime | None = None) -> dict[str, Any]:
    """A Sales Order whose business JSON is about ``target_bytes`` long (2 KB and 100 KB are the bench sizes)."""
    rng = random.Random(seed if seed is not None else order_id)
    when = (ordered_at or datetime(2026, 11, 22, 10, 15, tzinfo=UTC)).astimezone(UTC)
    items = []
    item_bytes, header_bytes = 208, 330  # one item with a short label; the order without items
    count = max(1, min(150, (target_bytes - header_bytes) // item_bytes))
    label_bytes = max(0, (target_bytes - header_bytes - count * item_bytes) // count)
    for _ in range(count):
        items.append(_item(rng, label_bytes))
    total = sum(Decimal(i["unitPrice"]) * i["quantity"] for i in items)
    return {"orderId": order_id, "orderDate": when.isoformat().replace("+00:00", "Z"),
            "customer": {"id": f"C-{rng.randint(1, 999)}", "displayName": rng.choice(["Aina", "Wei", "Raj", "Mei"])},
            "channel": "web", "currency": "MYR", "items": items, "total": str(total),
            "requestedDate": (when + timedelta(days=3)).date().isoformat()}

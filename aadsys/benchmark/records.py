"""Fresh, randomised records whose AAS JSON is about a given size: no two alike, so nothing is served from a
cache, and each one valid against its asset type's rules."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from aadsys.samples import sales_order
from aas_models import Owner, render_instance

STATIONS = ("loading", "filling", "capping", "labelling", "inspection", "packaging")
MAX_VISITS = 200  # the Sales Order Status model's limit on trace entries


def aas_size(asset_type: str, record: dict[str, Any], owner: Owner) -> int:
    return len(render_instance(asset_type, record, owner).aas_json)


def sized_sales_order(order_id: str, aas_bytes: int, owner: Owner, rng: random.Random) -> tuple[dict[str, Any], int]:
    """A Sales Order whose AAS JSON is within a few percent of ``aas_bytes`` (business JSON is ~2.4× smaller), and
    its AAS JSON's size."""
    seed = rng.getrandbits(64)
    target = max(400, aas_bytes // 2)
    for _ in range(4):  # the AAS/business ratio depends a little on the item count; converge on it
        record = sales_order(order_id, target_bytes=target, seed=seed)
        size = aas_size("sales-order", record, owner)
        if abs(size - aas_bytes) <= aas_bytes * 0.02:
            break
        target = max(400, int(target * aas_bytes / size))
    return record, size


def sized_status(order_id: str, aas_bytes: int, owner: Owner, rng: random.Random) -> tuple[dict[str, Any], int]:
    """A Sales Order Status with an RFID trace long enough for its AAS JSON to be about ``aas_bytes``, and its AAS
    JSON's size."""
    start = datetime(2026, 11, 22, 8, 0, tzinfo=UTC) + timedelta(seconds=rng.randrange(86_400))

    def status(visits: int) -> dict[str, Any]:
        trace = []
        for n in range(visits):
            entered = start + timedelta(seconds=20 * n)
            name = f"{STATIONS[n % len(STATIONS)]}-" + "".join(rng.choices(string.ascii_lowercase, k=50))
            trace.append({"station": name, "entered": entered.isoformat(),
                          "left": (entered + timedelta(seconds=15)).isoformat(), "result": "ok"})
        return {"orderId": order_id, "status": "in_production", "currentStation": STATIONS[visits % 6],
                "rfidTag": f"E200-{rng.randrange(16**8):08X}", "trace": trace,
                "updatedAt": (start + timedelta(seconds=20 * visits)).isoformat()}

    empty, one = aas_size("sales-order-status", status(0), owner), aas_size("sales-order-status", status(1), owner)
    visits = max(0, min(MAX_VISITS, round((aas_bytes - empty) / (one - empty))))
    record = status(visits)
    return record, aas_size("sales-order-status", record, owner)


SIZED = {"sales-order": sized_sales_order, "sales-order-status": sized_status}

ORDER_BYTES = 2000  # "2 KB Sales Orders" as bench/ingest.py posts them: ~1.8 KB of business JSON, ~10.6 KB of AAS


def order(order_id: str, rng: random.Random, ordered_at: datetime | None = None) -> dict[str, Any]:
    """A fresh 2 KB Sales Order (business JSON), unlike any other the same ``rng`` makes."""
    return sales_order(order_id, target_bytes=ORDER_BYTES, seed=rng.getrandbits(64), ordered_at=ordered_at)


def parse_size(text: str) -> int:
    """``100KB``, ``2kb``, ``1.5MB``, ``2048`` → bytes (KB = 1000 bytes, as the paper's 100 KB)."""
    units = {"KB": 1000, "MB": 1000**2, "B": 1}
    cleaned = text.strip().upper()
    for unit, factor in units.items():
        if cleaned.endswith(unit):
            number, scale = cleaned[: -len(unit)], factor
            break
    else:
        number, scale = cleaned, 1
    try:
        value = float(number) * scale
    except ValueError:
        raise ValueError(f"'{text}' is not a size such as 100KB, 2KB or 1.5MB") from None
    if not 1000 <= value <= 4_000_000:
        raise ValueError(f"'{text}' is outside 1KB … 4MB, the sizes a record of ours can have")
    return int(value)

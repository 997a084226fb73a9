"""The followers of new records (the event stream, a real-time subscription's commit follower) stay cheap as the
store grows: they read "after seq N" by index, and the commit follower wakes only for its own asset type."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Executable

from aadsys.core.db import Database, migrate
from aadsys.core.events import InstanceEvents
from aadsys.core.instances import _HEADS, _INSTANCES
from aadsys.extensions import migration_branches
from connector.data._outbox import _MADE_SO_FAR, _NEW_OWN

READS: dict[str, tuple[Executable, dict[str, Any], str]] = {
    "the commit follower's new records": (
        _NEW_OWN, {"asset_type": "sales-order", "watermark": 10, "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
                   "valid_to": datetime(2027, 1, 1, tzinfo=UTC), "limit": 1000}, "ix_instances_type_origin_id"),
    "the commit follower's watermark": (_MADE_SO_FAR, {"subscription_id": "s"}, "sqlite_autoindex_outbox"),
    "the event stream of one type": (
        _HEADS.where(_INSTANCES.c.id > 10, _INSTANCES.c.asset_type.in_(["sales-order"]))
        .order_by(_INSTANCES.c.id).limit(500), {}, "ix_instances_type_id"),
    "the event stream of every type": (_HEADS.where(_INSTANCES.c.id > 10).order_by(_INSTANCES.c.id).limit(500), {},
                                       "INTEGER PRIMARY KEY"),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_follower_reads_search_an_index_and_never_sort(read: str, tmp_path: Path) -> None:
    """SQLite's plan after the migrations: every step a SEARCH on the named index, no SCAN, no temp B-tree."""
    url = f"sqlite:///{tmp_path}/aadsys.db"
    migrate(url, branches=migration_branches())
    db = Database(url)
    statement, params, index = READS[read]
    try:
        with db.engine.connect() as conn:
            compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
            bound = compiled.construct_params(params)
            plan = [row[3] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}", tuple(bound[name] for name in compiled.positiontup or ()))]
    finally:
        db.dispose()
    steps = [step for step in plan if step.startswith(("SEARCH", "SCAN")) and step != "SCAN CONSTANT ROW"]
    assert steps and all(step.startswith("SEARCH") and index in step for step in steps), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


@pytest.mark.anyio
async def test_the_commit_follower_wakes_for_its_own_type_only() -> None:
    events = InstanceEvents()
    events.bind(asyncio.get_running_loop())
    seen = events.own_commits["sales-order"]
    waiting = asyncio.create_task(events.wait_own("sales-order", seen, timeout=5))
    await asyncio.sleep(0.05)
    events.notify()  # a received record: streams look again, the follower of our own sales orders does not
    events.notify("sales-order-status")
    await asyncio.sleep(0.05)
    assert not waiting.done()
    events.notify("sales-order")
    await asyncio.wait_for(waiting, 1)


@pytest.mark.anyio
async def test_the_commit_follower_still_polls_for_writers_in_other_processes() -> None:
    events = InstanceEvents()
    events.bind(asyncio.get_running_loop())
    loop = asyncio.get_running_loop()
    start = loop.time()
    await events.wait_own("sales-order", events.own_commits["sales-order"], timeout=0.2)
    assert 0.15 < loop.time() - start < 2


@pytest.mark.anyio
async def test_a_commit_before_the_wait_is_not_missed() -> None:
    """The follower notes the count before it reads the database; a commit after that ends the wait at once."""
    events = InstanceEvents()
    events.bind(asyncio.get_running_loop())
    seen = events.own_commits["sales-order"]
    events.notify("sales-order")
    await asyncio.sleep(0)  # the notification lands on the loop
    await asyncio.wait_for(events.wait_own("sales-order", seen, timeout=5), 0.5)

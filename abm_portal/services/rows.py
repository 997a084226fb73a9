"""Reading one row for a change: locked on PostgreSQL (``SELECT … FOR UPDATE``), fresh from the database."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session

from abm_portal.models import PortalTable

T = TypeVar("T", bound=PortalTable)


def locked(db: Session, model: type[T], key: str | tuple[str, ...]) -> T | None:
    """The row, locked until the transaction ends, so two concurrent changes of it run one after the other.

    ``key`` is the primary key; a tuple in the column order for a composite one.

    (On SQLite every portal transaction holds the write lock already; see ``abm_portal.db``.)
    """
    return db.get(model, key, with_for_update=True, populate_existing=True)

"""Whether a subscription still stands, asked inside the very transaction that would send or hand out its data.

The control plane ends a subscription in the connector's ``subscriptions`` table (the portal's revocation, a
provider's own ``aadsys connector revoke``, the window's end); the data plane checks that row in the same
transaction that claims deliveries to send or consumes a one-time link. So once the row says revoked, not one
more record leaves and no link of the subscription works, whatever a flow or a partner was doing at the time.
A subscription the ledger does not know (yet) stands on its checked grant.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from aadsys.core.instances import aware
from aadsys.core.tables import table_of
from connector.codes import Code
from connector.errors import Fallen
from connector.spi import FINAL_STATES, Mode, SubscriptionState
from connector.tables import SubscriptionRow

_SUBS = table_of(SubscriptionRow)
_ENDED = {state.value: Code(state.value) for state in FINAL_STATES}


def require_standing(session: Session, subscription_id: str, now: datetime) -> None:
    """``Fallen`` with the final code if the subscription ended here: a final state, or a real-time window over."""
    row = session.execute(select(_SUBS.c.state, _SUBS.c.mode, _SUBS.c.valid_to)
                          .where(_SUBS.c.id == subscription_id)).first()
    if row is None:
        return
    if row.state in _ENDED:
        raise Fallen(_ENDED[row.state], f"the subscription is {row.state}: nothing more of it is delivered")
    if row.mode == Mode.REALTIME.value and now >= aware(row.valid_to) \
            and row.state != SubscriptionState.REQUESTED.value:
        raise Fallen(Code.WINDOW_ENDED, "the subscription's real-time window has ended")

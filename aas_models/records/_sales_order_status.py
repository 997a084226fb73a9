"""Sales Order Status: what OMIS sends back as production moves on. Versioned: one revision per update."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, StrictStr, field_validator, model_validator

from aas_models.records._shared import Key, Name, Record, TopRecord
from aas_models.records._time import Moment, utc, utc_or_none

Status = Literal["received", "scheduled", "in_production", "completed", "shipped", "failed", "cancelled"]
StationResult = Literal["ok", "failed", "skipped"]


class StationVisit(Record):
    """One pass of the bottle through a station, from the RFID trace."""

    station: Name
    entered: Moment
    left: Moment | None = None
    result: StationResult | None = None

    _entered_utc = field_validator("entered")(utc)
    _left_utc = field_validator("left")(utc_or_none)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.left is not None and self.left < self.entered:
            raise ValueError("left is before entered; a station is left after it is entered")
        return self


class SalesOrderStatus(TopRecord):
    order_id: Key
    status: Status
    current_station: Name | None = None
    rfid_tag: StrictStr | None = Field(default=None, pattern=r"^[A-Za-z0-9:-]{4,64}$")
    trace: list[StationVisit] = Field(default_factory=list, max_length=200)
    updated_at: Moment

    _updated_utc = field_validator("updated_at")(utc)

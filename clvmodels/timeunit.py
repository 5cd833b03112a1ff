"""The time unit of recency, T, horizons and rates: one explicit object instead of bare strings.

A :class:`TimeUnit` is a string enumeration (``TimeUnit.WEEK == "W"``), so it is stored in
``DataFrame.attrs``, JSON files and Parquet metadata as its one-letter code and read back with
:meth:`TimeUnit.parse`. Tables carry their unit in ``attrs["time_unit"]``
(:func:`table_time_unit` reads it, :func:`set_table_time_unit` writes it); models record the
unit they were fitted in (``time_unit_``) and refuse tables in another one
(:func:`check_same_unit`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from clvmodels.validation import ValidationError

#: Days in a year of the average calendar (months and years are averages, so recency and T
#: stay continuous).
DAYS_PER_YEAR = 365.25

_DAYS = {"h": 1 / 24, "D": 1.0, "W": 7.0, "M": DAYS_PER_YEAR / 12, "Y": DAYS_PER_YEAR}
_NAMES = {"h": "hour", "D": "day", "W": "week", "M": "month", "Y": "year"}


class TimeUnit(StrEnum):
    """A unit of time: hours, days, weeks, months or years (average calendar ones).

    ``TimeUnit.parse`` accepts the code or the name, singular or plural, in any case
    (``"W"``, ``"w"``, ``"week"``, ``"Weeks"``); ``"m"`` is a month (minutes are not a unit
    here).
    """

    HOUR = "h"
    DAY = "D"
    WEEK = "W"
    MONTH = "M"
    YEAR = "Y"

    @classmethod
    def parse(cls, value: Any) -> TimeUnit:
        """The unit named by ``value`` (a code, a name or a TimeUnit).

        Raises
        ------
        ValueError
            If ``value`` names no unit.
        """
        if isinstance(value, TimeUnit):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            for unit in cls:
                if key in (unit.value.lower(), unit.label, unit.plural):
                    return unit
        valid = ", ".join(f"{unit.value!r} ({unit.plural})" for unit in cls)
        raise ValueError(f"unknown time unit {value!r}; expected one of {valid}")

    @property
    def days(self) -> float:
        """Length of the unit in days."""
        return _DAYS[self.value]

    @property
    def label(self) -> str:
        """The singular name, e.g. ``"week"``."""
        return _NAMES[self.value]

    @property
    def plural(self) -> str:
        """The plural name, e.g. ``"weeks"``, for axis labels and messages."""
        return f"{self.label}s"

    def from_periods(self, periods: Any, resolution: TimeUnit) -> Any:
        """A number of periods of ``resolution`` (whole days or hours) in this unit.

        Every engine converts with exactly these two floating-point operations (multiply,
        then divide) on the same integers, so their recency and T agree to the last bit.
        """
        return periods * resolution.days / self.days

    def rate_per_unit(self, annual_rate: float) -> float:
        """A discount rate per year as the compounded rate per unit of this length."""
        return (1.0 + annual_rate) ** (self.days / DAYS_PER_YEAR) - 1.0


def table_time_unit(table: Any) -> TimeUnit | None:
    """The time unit a table records (``attrs["time_unit"]``), or None if it records none.

    Works for pandas DataFrames and for the Spark summaries of :func:`clvmodels.rfm_summary`
    (which carry ``attrs`` as a plain attribute; derived Spark frames record none).

    Raises
    ------
    ValueError
        If the recorded unit is not a time unit.
    """
    attrs = getattr(table, "attrs", None) or {}
    unit = attrs.get("time_unit") if isinstance(attrs, dict) else None
    return None if unit in (None, "") else TimeUnit.parse(unit)


def set_table_time_unit(table: Any, unit: TimeUnit | str | None) -> Any:
    """Record ``unit`` in ``table.attrs`` (as its code, JSON-safe) and return the table."""
    table.attrs["time_unit"] = None if unit is None else TimeUnit.parse(unit).value
    return table


def check_same_unit(owner: str, fitted: TimeUnit | None, table: Any) -> None:
    """Refuse a table measured in another time unit than a model was fitted in.

    ``owner`` names the model in the message. Either side without a unit is accepted (a
    table made by hand, parameters set without a unit).
    """
    data_unit = table_time_unit(table)
    if fitted is not None and data_unit is not None and data_unit != fitted:
        raise ValidationError(
            f"time units differ: the {owner} was fitted on data in {fitted.value!r} "
            f"({fitted.plural}) but this table is in {data_unit.value!r} ({data_unit.plural}); "
            f"rebuild the table with rfm_summary(..., time_unit={fitted.value!r})"
        )


__all__ = ["DAYS_PER_YEAR", "TimeUnit", "check_same_unit", "set_table_time_unit",
           "table_time_unit"]

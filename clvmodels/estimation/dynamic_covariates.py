"""Time-varying covariates: the long table of covariate periods, checked, and aligned to each
customer's own time axis.

The table has one row per customer and covariate period: the customer, the date the period
starts (``date_col``) and the covariate columns. A period lasts one time unit of the RFM table
(``attrs["time_unit"]``; a unit of fixed length: hours, days or weeks), as in CLVTools'
``SetDynamicCovariates``. Each customer's periods must follow one another without a gap from
one starting at or before the customer's first purchase to one covering the calibration end
(the end of the horizon, for a prediction); every violation, a customer of the RFM table
missing from the table, a duplicated (customer, date), a missing value, is a
:class:`~clvmodels.ValidationError` naming the customer and the date.

A customer's time starts at the first purchase, ``observation_end - T`` (from the RFM table's
``attrs["observation_end"]``, which :func:`~clvmodels.rfm_summary` records). The periods are
cut there, at the calibration end T and at the end of the horizon, into pieces
(:class:`Pieces`) of constant covariates; the likelihood also needs how many repeat purchases
fall in each piece: from ``transactions`` (the log the RFM table was built from), or, when the
purchase covariates do not change over any customer's calibration, from the frequency alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvmodels.timeunit import TimeUnit, table_time_unit
from clvmodels.validation import ValidationError

# Dates are compared in units of the period: a difference below this is rounding.
_TOLERANCE = 1e-9
_FIXED_UNITS = (TimeUnit.HOUR, TimeUnit.DAY, TimeUnit.WEEK)


@dataclass(frozen=True)
class Pieces:
    """Customers' time axes cut into pieces of constant covariates, sorted by customer and
    time.

    Attributes
    ----------
    customer : ndarray of int
        Each piece's customer (0..n-1, non-decreasing).
    start, length : ndarray
        Each piece's start (customer time, from the first purchase) and length (> 0).
    purchases : ndarray
        Repeat purchases in each piece (calibration pieces; 0 in the future).
    x, t_x, T : ndarray
        Per customer: repeat purchases, time of the last one, end of the calibration.
    """

    customer: np.ndarray
    start: np.ndarray
    length: np.ndarray
    purchases: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray

    @property
    def n_customers(self) -> int:
        return len(self.x)

    def position(self) -> np.ndarray:
        """Each piece's position among its customer's pieces (0, 1, ...)."""
        first = np.searchsorted(self.customer, np.arange(self.n_customers))
        return np.arange(len(self.customer)) - first[self.customer]

    def padded(self, values: np.ndarray) -> np.ndarray:
        """Per-piece values as a (customers, most pieces) array, zeros after the last."""
        position = self.position()
        width = int(position.max()) + 1 if len(position) else 0
        table = np.zeros((self.n_customers, width))
        table[self.customer, position] = values
        return table

    def cumulative_before(self, values: np.ndarray) -> np.ndarray:
        """Per piece, the sum of ``values`` over the customer's earlier pieces (summed per
        customer, so that no customer's sum carries another's rounding)."""
        table = self.padded(values)
        before = np.cumsum(table, axis=1) - table
        return before[self.customer, self.position()]

    def sum_after(self, values: np.ndarray) -> np.ndarray:
        """Per piece, the sum of ``values`` over the customer's later pieces."""
        table = self.padded(values)
        after = np.cumsum(table[:, ::-1], axis=1)[:, ::-1] - table
        return after[self.customer, self.position()]

    def total(self, values: np.ndarray) -> np.ndarray:
        """Per customer, the sum of ``values`` over their pieces."""
        return np.bincount(self.customer, values, self.n_customers)


@dataclass(frozen=True)
class CovariatePeriods:
    """The covariate periods of an RFM table's customers, aligned and cut into pieces.

    Attributes
    ----------
    calibration, future : Pieces
        The pieces of (0, T] and of (T, T + horizon] (no future pieces without a horizon).
    calibration_rows, future_rows : DataFrame
        The covariate columns of each piece (the table's row of its period), in order,
        indexed by the pieces' customers.
    """

    calibration: Pieces
    future: Pieces
    calibration_rows: pd.DataFrame
    future_rows: pd.DataFrame


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _day(value: pd.Timestamp) -> str:
    return value.isoformat() if (value.hour or value.minute or value.second) else str(
        value.date())


def time_axis(data: pd.DataFrame, owner: str) -> tuple[TimeUnit, pd.Timestamp]:
    """The RFM table's time unit (one of fixed length) and observation end.

    Raises
    ------
    ValidationError
        If the table does not record them (``attrs``, as :func:`~clvmodels.rfm_summary`
        writes them) or its unit is months or years, whose calendar periods vary in length.
    """
    try:
        unit = table_time_unit(data)
    except ValueError as error:
        raise ValidationError(f"{owner}: {error}") from None
    end = (getattr(data, "attrs", None) or {}).get("observation_end")
    if unit is None or end in (None, ""):
        raise ValidationError(
            f"{owner}: time-varying covariates need the RFM table's attrs 'time_unit' and "
            "'observation_end' (rfm_summary records them) to place each customer's covariate "
            "periods on the customer's time axis")
    if unit not in _FIXED_UNITS:
        raise ValidationError(
            f"{owner}: time-varying covariates need a time unit of fixed length (hours, days "
            f"or weeks): a covariate period is one unit, and {unit.plural} of the calendar "
            "differ in length; rebuild the RFM table with time_unit='W' or 'D'")
    try:
        return unit, pd.Timestamp(end)
    except (TypeError, ValueError):
        raise ValidationError(f"{owner}: attrs['observation_end'] {end!r} is not a date"
                              ) from None


def _dates(column: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return column
    try:
        return pd.to_datetime(column, format="ISO8601")
    except (TypeError, ValueError):
        raise ValidationError(
            f"column {name!r} (the start of each covariate period): expected dates "
            f"(datetime values or ISO 8601 text, YYYY-MM-DD), got dtype {column.dtype}"
        ) from None


def _check_table(table: pd.DataFrame, customer_col: str, date_col: str,
                 columns: list[str]) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise ValidationError("time_varying_covariates must be a DataFrame (one row per "
                              f"customer and period), got {type(table).__name__}")
    wanted = [customer_col, date_col, *columns]
    missing = [name for name in wanted if name not in table.columns]
    if missing:
        raise ValidationError(
            f"time_varying_covariates: column(s) {missing} are not in the table; it has "
            f"columns {[str(column) for column in table.columns]} (name the customer and "
            "date columns with customer_col= and date_col=)")
    frame = table[wanted].reset_index(drop=True)
    frame[date_col] = _dates(frame[date_col], date_col)
    for name in wanted:
        empty = frame[name].isna().to_numpy()
        if empty.any():
            row = np.flatnonzero(empty)[0]
            where = (f"row {row}" if name == customer_col
                     else f"customer {_plain(frame[customer_col].iloc[row])!r}"
                     + ("" if name == date_col else
                        f", period {_day(frame[date_col].iloc[row])}"))
            raise ValidationError(
                f"time_varying_covariates: column {name!r} has {int(empty.sum())} missing "
                f"value(s) (e.g. {where}); every period of every customer needs its values")
    repeated = frame.duplicated([customer_col, date_col]).to_numpy()
    if repeated.any():
        row = np.flatnonzero(repeated)[0]
        raise ValidationError(
            f"time_varying_covariates: customer {_plain(frame[customer_col].iloc[row])!r} has "
            f"more than one row for the period starting {_day(frame[date_col].iloc[row])}; "
            "expected one row per customer and period")
    return frame


def covariate_periods(data: pd.DataFrame, table: pd.DataFrame, columns: list[str],
                      customer_col: str, date_col: str, owner: str, horizon: float = 0.0,
                      purchase_columns: list[str] | None = None,
                      transactions: pd.DataFrame | None = None,
                      transaction_date_col: str | None = None) -> CovariatePeriods:
    """Check ``table`` against the customers of the RFM table ``data`` and cut its periods
    into the pieces of each customer's calibration and, with ``horizon`` (in the RFM
    table's unit), of the horizon after it.

    The repeat purchases of each piece come from ``transactions`` (columns ``customer_col``
    and ``transaction_date_col``, default ``date_col``: counted as the RFM table counts them,
    at distinct times after the first purchase up to the calibration end, and checked against
    its ``frequency`` and ``recency``); without it, the ``purchase_columns`` must be constant
    over each customer's calibration (the purchases then count at the first piece).

    Raises
    ------
    ValidationError
        Naming the customer, column or date: see the module.
    """
    unit, end = time_axis(data, owner)
    x, t_x, T = (data[name].to_numpy(dtype=float) for name in ("frequency", "recency", "T"))
    frame = _check_table(table, customer_col, date_col, columns)
    position = data.index.get_indexer(frame[customer_col])
    present = np.zeros(len(data), dtype=bool)
    present[position[position >= 0]] = True
    if not present.all():
        absent = np.flatnonzero(~present)
        raise ValidationError(
            f"time_varying_covariates: {len(absent)} customer(s) of the RFM table have no "
            f"covariate periods (e.g. customer {_plain(data.index[absent[0]])!r}); every "
            "customer needs periods from the first purchase to "
            + ("the calibration end" if horizon == 0 else "the end of the horizon"))
    frame = frame.loc[position >= 0].assign(_customer=position[position >= 0])
    frame = frame.sort_values(["_customer", date_col], kind="stable").reset_index(drop=True)
    customer = frame["_customer"].to_numpy()
    dates = frame[date_col]
    try:
        before_end = ((end - dates) / pd.Timedelta(days=unit.days)).to_numpy(dtype=float)
    except TypeError:
        raise ValidationError(
            f"column {date_col!r}: its dates and the RFM table's observation end {end} are "
            "not comparable (one has a time zone, the other not)") from None
    # Period starts on the customer's axis (first purchase at 0).
    start = T[customer] - before_end
    _check_sequence(frame, customer, start, data.index, customer_col, date_col, unit)
    first = np.searchsorted(customer, np.arange(len(data)))
    last = np.r_[first[1:], len(customer)] - 1
    _check_cover(data.index, start, first, last, T, horizon, end, unit, dates)
    calibration, calibration_rows = _cut(frame, customer, start, 0.0, T, x, t_x, T, columns)
    future, future_rows = _cut(frame, customer, start, T, T + horizon, x, t_x, T, columns)
    purchases = _purchases(data, calibration, calibration_rows, purchase_columns or [],
                           transactions, customer_col, transaction_date_col or date_col,
                           end, unit)
    calibration = Pieces(calibration.customer, calibration.start, calibration.length,
                         purchases, x, t_x, T)
    # Rows labelled by customer, so that a bad value's message names the customer.
    calibration_rows.index = data.index[calibration.customer]
    future_rows.index = data.index[future.customer]
    return CovariatePeriods(calibration, future, calibration_rows, future_rows)


def _check_sequence(frame, customer, start, index, customer_col, date_col, unit) -> None:
    step = np.diff(start)
    same = customer[1:] == customer[:-1]
    wrong = same & (np.abs(step - 1.0) > _TOLERANCE)
    if not wrong.any():
        return
    k = np.flatnonzero(wrong)[0]
    who = _plain(index[customer[k]])
    previous, following = frame[date_col].iloc[k], frame[date_col].iloc[k + 1]
    if step[k] > 1 and abs(step[k] - round(step[k])) <= _TOLERANCE:
        missing = previous + pd.Timedelta(days=unit.days)
        raise ValidationError(
            f"time_varying_covariates: customer {who!r} has a gap in their covariate "
            f"periods: no row for the period starting {_day(missing)} (between "
            f"{_day(previous)} and {_day(following)}); each period is one {unit.label}")
    raise ValidationError(
        f"time_varying_covariates: customer {who!r}: the periods starting {_day(previous)} "
        f"and {_day(following)} are {step[k]:.6g} {unit.plural} apart; column {date_col!r} "
        f"must hold the start of each period, one {unit.label} apart (the RFM table's unit)")


def _check_cover(index, start, first, last, T, horizon, end, unit, dates) -> None:
    late = start[first] > _TOLERANCE
    if late.any():
        i = np.flatnonzero(late)[0]
        purchase = end - pd.Timedelta(days=T[i] * unit.days)
        raise ValidationError(
            f"time_varying_covariates: customer {_plain(index[i])!r}: the first covariate "
            f"period starts {_day(dates.iloc[first[i]])}, after the customer's first purchase "
            f"({_day(purchase)}); the periods must start at or before it")
    short = start[last] + 1.0 < T + horizon - _TOLERANCE
    if short.any():
        i = np.flatnonzero(short)[0]
        uncovered = dates.iloc[last[i]] + pd.Timedelta(days=unit.days)
        target = end + pd.Timedelta(days=horizon * unit.days)
        what = ("the calibration end" if horizon == 0
                else f"the end of the horizon ({horizon:g} {unit.plural} after it)")
        raise ValidationError(
            f"time_varying_covariates: customer {_plain(index[i])!r}: the covariate periods "
            f"end at {_day(uncovered)}, before {what}, {_day(target)}; the first date not "
            f"covered is {_day(uncovered)}")


def _cut(frame, customer, start, lower, upper, x, t_x, T, columns) -> tuple[Pieces,
                                                                         pd.DataFrame]:
    """The parts of the periods within (lower, upper] of their customers' axes."""
    lower = np.broadcast_to(lower, T.shape)[customer]
    upper = np.broadcast_to(upper, T.shape)[customer]
    begin = np.maximum(start, lower)
    length = np.minimum(start + 1.0, upper) - begin
    kept = np.flatnonzero(length > 0)
    pieces = Pieces(customer[kept], begin[kept], length[kept], np.zeros(len(kept)), x, t_x, T)
    return pieces, frame.iloc[kept][columns].reset_index(drop=True)


def _purchases(data, pieces: Pieces, rows: pd.DataFrame, purchase_columns, transactions,
               customer_col, date_col, end, unit) -> np.ndarray:
    """The repeat purchases in each calibration piece."""
    x = pieces.x
    counts = np.zeros(len(pieces.customer))
    if transactions is None:
        for name in purchase_columns:
            values = rows[name].astype(object).to_numpy()
            first = np.searchsorted(pieces.customer, np.arange(pieces.n_customers))
            changes = values != values[first[pieces.customer]]
            if changes.any():
                who = _plain(data.index[pieces.customer[np.flatnonzero(changes)[0]]])
                raise ValidationError(
                    f"time_varying_covariates: column {name!r} (a purchase covariate) changes "
                    f"during the calibration of customer {who!r}: the likelihood needs the "
                    "covariates at each purchase, so pass the transaction log the RFM table "
                    "was built from (transactions=)")
        first = np.searchsorted(pieces.customer, np.arange(pieces.n_customers))
        counts[first[x > 0]] = x[x > 0]
        return counts
    who, when = _repeat_purchase_times(data, transactions, customer_col, date_col, end, unit)
    # The piece holding each purchase: the last of its customer's pieces starting at or
    # before it (a purchase on a period's first day belongs to that period). Pieces and
    # purchases merged in order of (customer, time), a piece before a purchase at the same
    # time: the latest piece before a purchase is then its own customer's (whose first piece
    # starts at 0, before every repeat purchase), as the pieces come sorted that way.
    n_pieces = len(pieces.customer)
    is_purchase = np.repeat([False, True], [n_pieces, len(who)])
    order = np.lexsort((is_purchase, np.concatenate([pieces.start, when + _TOLERANCE]),
                        np.concatenate([pieces.customer, who])))
    latest_piece = np.maximum.accumulate(np.where(is_purchase[order], -1, order))
    return np.bincount(latest_piece[is_purchase[order]], minlength=n_pieces).astype(float)


def _repeat_purchase_times(data, transactions, customer_col, date_col, end, unit):
    """Each customer's repeat purchase times (customer position, time on their axis),
    checked against the RFM table's frequency and recency."""
    if not isinstance(transactions, pd.DataFrame):
        raise ValidationError("transactions must be a DataFrame (the transaction log), got "
                              f"{type(transactions).__name__}")
    missing = [name for name in (customer_col, date_col) if name not in transactions.columns]
    if missing:
        raise ValidationError(
            f"transactions: column(s) {missing} are not in the table; it has columns "
            f"{[str(column) for column in transactions.columns]} (name the date column with "
            "transaction_date_col=)")
    position = data.index.get_indexer(transactions[customer_col])
    dates = _dates(transactions[date_col], date_col)
    try:
        before_end = ((end - dates) / pd.Timedelta(days=unit.days)).to_numpy(dtype=float)
    except TypeError:
        raise ValidationError(
            f"transactions: column {date_col!r}: its dates and the RFM table's observation "
            f"end {end} are not comparable (one has a time zone, the other not)") from None
    x, t_x, T = (data[name].to_numpy(dtype=float) for name in ("frequency", "recency", "T"))
    known = position >= 0
    time = T[np.where(known, position, 0)] - before_end
    # The log must start each customer at their first purchase, T before the end.
    earliest = np.full(len(data), np.inf)
    np.minimum.at(earliest, position[known], time[known])
    misplaced = np.abs(earliest) > 1e-6 * np.maximum(1.0, T)
    if misplaced.any():
        i = np.flatnonzero(misplaced)[0]
        expected = end - pd.Timedelta(days=T[i] * unit.days)
        found = "no transaction" if not np.isfinite(earliest[i]) else "the earliest on " + _day(
            end - pd.Timedelta(days=(T[i] - earliest[i]) * unit.days))
        raise ValidationError(
            f"transactions: customer {_plain(data.index[i])!r}: the first purchase is "
            f"{_day(expected)} by the RFM table (T = {T[i]:.6g} {unit.plural} before "
            f"{_day(end)}), but the log has {found}; pass the transaction log the RFM table "
            "was built from")
    # Distinct times after the first purchase (at 0) up to the calibration end.
    repeat = known & (time > _TOLERANCE) & (time <= T[np.where(known, position, 0)]
                                            + _TOLERANCE)
    distinct = pd.DataFrame({"who": position[repeat], "when": time[repeat]}).drop_duplicates()
    counted = np.bincount(distinct["who"], minlength=len(data))
    latest = np.zeros(len(data))
    np.maximum.at(latest, distinct["who"].to_numpy(), distinct["when"].to_numpy())
    wrong = (counted != x) | (np.abs(latest - t_x) > 1e-6 * np.maximum(1.0, T))
    if wrong.any():
        i = np.flatnonzero(wrong)[0]
        raise ValidationError(
            f"transactions: customer {_plain(data.index[i])!r} has {counted[i]} repeat "
            f"purchase(s), the last at {latest[i]:.6g} {unit.plural}, up to the calibration "
            f"end, but the RFM table says frequency {x[i]:g}, recency {t_x[i]:.6g}; pass the "
            "transaction log the RFM table was built from")
    return distinct["who"].to_numpy(), distinct["when"].to_numpy()


__all__ = ["CovariatePeriods", "Pieces", "covariate_periods", "time_axis"]

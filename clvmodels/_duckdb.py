"""The DuckDB engine of :func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout`.

DuckDB aggregates a pandas DataFrame, or a CSV or Parquet file (or a glob of them) that it reads
out of core, spilling to a temporary directory when the aggregation outgrows memory. The result is
the pandas engine's table: the same integers from the same period arithmetic, converted to time
units by the same NumPy code (:func:`clvmodels.rfm.summary_frame`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from clvmodels._engine import aggregation_sql, empty_table, first_failure, transaction_checks
from clvmodels.rfm import (
    _as_timestamp,
    add_holdout_columns,
    all_after_end,
    check_calibration_window,
    check_resolution,
    no_calibration_purchase,
    period_of,
    summary_attrs,
    summary_frame,
    warn_excluded,
)
from clvmodels.validation import (
    ValidationError,
    _require_columns,
    check_transactions,
    invalid_rows,
)

_NS_PER_DAY = 86_400 * 10**9
_PERIOD_NS = {"D": _NS_PER_DAY, "h": _NS_PER_DAY // 24}
# DuckDB's // truncates towards zero; periods before 1970 need the floor.
_FLOOR_DIV = "(({x}) // {m} - CASE WHEN ({x}) % {m} < 0 THEN 1 ELSE 0 END)"
_DATE_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
_NUMBER_TYPES = (*_INTEGER_TYPES, "FLOAT", "DOUBLE")
# Files with time-zone-aware timestamps are read in UTC (as pandas reads them from Parquet).
_FILE_TIME_ZONE = "UTC"


def _import_duckdb():
    try:
        import duckdb
    except ImportError as error:
        raise ImportError(
            'engine="duckdb" needs the duckdb package: pip install "clvmodels[fast]"'
        ) from error
    return duckdb


def summarise(
    transactions: object,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    date_format: str | None,
    resolution: str,
    unit: str,
    observation_end: object,
    calibration_end: object,
) -> pd.DataFrame:
    """:func:`~clvmodels.rfm.rfm_summary` (``calibration_end`` None) or
    :func:`~clvmodels.rfm.calibration_holdout` on DuckDB; arguments as there."""
    duckdb = _import_duckdb()
    resolution = check_resolution(resolution)
    with tempfile.TemporaryDirectory(prefix="clvmodels-duckdb-") as spill:
        connection = duckdb.connect(config={"temp_directory": spill})
        try:
            return _summarise(
                connection, transactions, customer_col=customer_col, date_col=date_col,
                amount_col=amount_col, date_format=date_format, resolution=resolution,
                unit=unit, observation_end=observation_end, calibration_end=calibration_end,
            )
        finally:
            connection.close()


def _summarise(connection, transactions, *, customer_col, date_col, amount_col, date_format,
               resolution, unit, observation_end, calibration_end) -> pd.DataFrame:
    if isinstance(transactions, pd.DataFrame):
        n_rows, first_date, last_date, tz, index_dtype = _register_frame(
            connection, transactions, customer_col, date_col, amount_col, date_format
        )
    elif isinstance(transactions, (str, os.PathLike)):
        n_rows, first_date, last_date, tz = _register_file(
            connection, transactions, customer_col, date_col, amount_col, date_format
        )
        index_dtype = None
    else:
        raise ValidationError(
            "engine='duckdb' expected a pandas DataFrame or the path of a CSV or Parquet file, "
            f"got {type(transactions).__name__}"
        )
    end = (last_date if observation_end is None
           else _as_timestamp(observation_end, date_format, "observation_end"))
    end_period = period_of(end, resolution, tz)
    if period_of(first_date, resolution, tz) > end_period:
        raise all_after_end(date_col, n_rows, end, first_date)
    cut, calibration_ts = end_period, None
    if calibration_end is not None:
        calibration_ts = _as_timestamp(calibration_end, date_format, "calibration_end")
        cut = period_of(calibration_ts, resolution, tz)
        check_calibration_window(calibration_ts, cut, end, end_period)
    query = aggregation_sql(
        "log", period=_FLOOR_DIV.format(x="ns", m=_PERIOD_NS[resolution]), cut=cut,
        end=end_period, with_amount=amount_col is not None,
    )
    columns = connection.execute(query + " ORDER BY pc.c").fetchnumpy()
    n_customers = len(columns["c"])
    n_excluded = int(columns["n_after"].sum())
    if n_excluded:
        n_dropped = int(np.count_nonzero(columns["n_periods"] + columns["holdout_periods"] == 0))
        warn_excluded(n_excluded, end, n_dropped, stacklevel=5)
    cohort = columns["n_periods"] > 0
    if not cohort.any():
        raise no_calibration_purchase(date_col, calibration_ts)
    customers = pd.Index(_values(columns["c"])[cohort], dtype=index_dtype, name=customer_col)
    with_amount = amount_col is not None
    summary = summary_frame(
        customers, _values(columns["n_periods"])[cohort], _values(columns["first"])[cohort],
        _values(columns["last"])[cohort],
        _values(columns["repeat_spend"])[cohort] if with_amount else None,
        cut, resolution, unit,
    )
    if calibration_end is not None:
        add_holdout_columns(
            summary, _values(columns["holdout_periods"])[cohort],
            _values(columns["holdout_spend"])[cohort] if with_amount else None,
            end_period - cut, resolution, unit,
        )
    summary.attrs.update(summary_attrs(
        unit, end, calibration_end=calibration_ts, n_transactions=n_rows - n_excluded,
        n_transactions_excluded=n_excluded,
        n_customers_excluded=n_customers - int(np.count_nonzero(cohort)),
    ))
    return summary


def _values(array: np.ndarray) -> np.ndarray:
    """A fetched column as a plain array (DuckDB returns masked arrays for nullable ones)."""
    return np.ma.getdata(array)


def _register_frame(connection, transactions, customer_col, date_col, amount_col, date_format):
    """Check a DataFrame with the pandas engine's checks, then hand DuckDB its columns.

    Dates go in as local wall-clock nanoseconds since 1970, so DuckDB's periods are the pandas
    engine's.
    """
    dates = check_transactions(
        transactions, customer_col=customer_col, date_col=date_col, amount_col=amount_col,
        date_format=date_format,
    )
    tz = getattr(dates.dtype, "tz", None)
    local = dates.dt.tz_localize(None) if tz is not None else dates
    frame = pd.DataFrame({
        "c": transactions[customer_col].to_numpy(),
        "ns": local.to_numpy(dtype="datetime64[ns]").view(np.int64),
    })
    if amount_col:
        frame["a"] = pd.to_numeric(transactions[amount_col]).to_numpy(dtype=float)
    connection.register("log", frame)
    return len(frame), dates.min(), dates.max(), tz, transactions[customer_col].dtype


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _register_file(connection, path, customer_col, date_col, amount_col, date_format):
    """Check a CSV or Parquet file in one scan, then define the ``log`` view over it."""
    connection.execute(f"SET TimeZone = '{_FILE_TIME_ZONE}'")
    source = _read_file(connection, path)
    types = dict(zip(source.columns, (str(t) for t in source.dtypes), strict=True))
    _require_columns(pd.DataFrame(columns=list(types)),
                     [customer_col, date_col] + ([amount_col] if amount_col else []))
    if _is_csv(path) and types[date_col] in _DATE_TYPES:
        # DuckDB's CSV sniffer picks a date layout itself, "01/02/2006" day first if every
        # value parses so, and then ignores date_format: read the text, parse it as below.
        source = _read_file(connection, path, text_column=date_col)
        types[date_col] = "VARCHAR"
    customer, date = _quote(customer_col), _quote(date_col)
    parsed, ns, is_number = _date_expressions(date, types[date_col], date_format)
    amount = amount_number = None
    amount_type, amount_is_numeric = "", False
    if amount_col:
        amount, amount_type = _quote(amount_col), types[amount_col]
        amount_is_numeric = amount_type in _NUMBER_TYPES or amount_type.startswith("DECIMAL")
        if amount_is_numeric:
            amount_number = f"CAST({amount} AS DOUBLE)"
        elif amount_type == "VARCHAR":
            amount_number = f"TRY_CAST({amount} AS DOUBLE)"
    checks = transaction_checks(
        customer, date, amount, customer_col=customer_col, date_col=date_col,
        amount_col=amount_col, parsed_date=parsed, date_is_number=is_number,
        date_format=date_format, parser="DuckDB", amount_number=amount_number,
        amount_is_numeric=amount_is_numeric, amount_type=amount_type,
        not_finite="(isinf({x}) OR isnan({x}))",
    )
    source.create_view("source")
    valid_ns = "NULL" if ns is None else ns
    counts = connection.execute(
        "SELECT count(*), min(ns), max(ns), "
        + ", ".join(f"count_if({check.condition})" for check in checks)
        + f" FROM (SELECT *, {valid_ns} AS ns FROM source)"
    ).fetchone()
    n_rows, first_ns, last_ns = counts[:3]
    if n_rows == 0:
        raise empty_table()
    failure = first_failure(list(counts[3:]), checks)
    if failure is not None:
        raise _example_error(connection, failure, customer)
    connection.execute(
        f"CREATE VIEW log AS SELECT {customer} AS c, {ns} AS ns"
        + (f", {amount_number} AS a" if amount_col else "")
        + " FROM source"
    )
    tz = "UTC" if types[date_col].startswith("TIMESTAMP WITH TIME ZONE") else None
    return n_rows, pd.Timestamp(first_ns, tz=tz), pd.Timestamp(last_ns, tz=tz), tz


def _read_file(connection, path, text_column: str | None = None):
    """A relation over a CSV or Parquet file (``text_column`` of a CSV file read as text)."""
    name = str(path)
    has_glob = any(ch in name for ch in "*?[")
    if not has_glob and not Path(name).exists():
        raise FileNotFoundError(f"{name}: no such transaction file")
    suffix = _suffix(name)
    if suffix in (".parquet", ".pq"):
        return connection.read_parquet(name)
    if suffix in (".csv", ".tsv", ".txt"):
        if text_column is not None:
            return connection.read_csv(name, dtype={text_column: "VARCHAR"})
        return connection.read_csv(name)
    raise ValueError(
        f"{name}: expected a .csv (.tsv, .txt, optionally compressed) or .parquet file"
    )


def _suffix(name: str) -> str | None:
    """The file type's suffix, after any compression suffix."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst", ".bz2"):
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else None


def _is_csv(path) -> bool:
    return _suffix(str(path)) in (".csv", ".tsv", ".txt")


def _date_expressions(date: str, date_type: str, date_format: str | None):
    """SQL of the parsed date (None when already dates), of its local wall time in
    nanoseconds since 1970 (None when the column cannot hold dates), and whether the column
    holds numbers."""
    if date_type in _DATE_TYPES:
        return None, f"epoch_ns(CAST({date} AS TIMESTAMP_NS))", False
    if date_type.startswith("TIMESTAMP WITH TIME ZONE"):
        return None, f"epoch_ns(CAST(CAST({date} AS TIMESTAMP) AS TIMESTAMP_NS))", False
    is_number = date_type in _NUMBER_TYPES or date_type.startswith("DECIMAL")
    if is_number and date_format is None:
        return None, None, True
    text = date if date_type == "VARCHAR" else f"CAST({date} AS VARCHAR)"
    if date_format is None:
        parsed = f"TRY_CAST({text} AS TIMESTAMP)"
    else:
        escaped = date_format.replace("'", "''")
        parsed = f"try_strptime({text}, '{escaped}')"
    return parsed, f"epoch_ns(CAST({parsed} AS TIMESTAMP_NS))", is_number


def _example_error(connection, failure, customer: str):
    """The pandas engine's message for a failed check, with one example row from the file."""
    check, count = failure
    if check.example_of == "row":
        row = connection.execute(
            "SELECT row FROM (SELECT row_number() OVER () - 1 AS row, * FROM source) "
            f"WHERE {check.condition} LIMIT 1"
        ).fetchone()
        return invalid_rows(check.column, count, row[0], check.expected, example_of="row")
    row = connection.execute(
        f"SELECT {customer}, {_quote(check.column)} FROM source WHERE {check.condition} LIMIT 1"
    ).fetchone()
    if check.with_value:
        return invalid_rows(check.column, count, row[0], check.expected, value=row[1])
    return invalid_rows(check.column, count, row[0], check.expected)

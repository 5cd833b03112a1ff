"""The DuckDB engine of :func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout`.

DuckDB aggregates a pandas DataFrame, or a CSV or Parquet file (or a glob of them) that it reads
out of core, spilling to a temporary directory when the aggregation outgrows memory. The result is
the pandas engine's table: the same integers from the same period arithmetic, converted to time
units by the same NumPy code (:func:`clvmodels.engines.window.finish_summary`). A DataFrame is
read by the pandas engine's :func:`~clvmodels.engines.pandas.read_log` (its checks, customer
codes and periods); DuckDB only aggregates it.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

import numpy as np
import pandas as pd

from clvmodels.dates import UtcOffsets
from clvmodels.engines.pandas import read_log
from clvmodels.engines.sql import (
    DUCKDB,
    INSTANT,
    MINUTES,
    aggregation_sql,
    amount_as_double,
    empty_table,
    offset_aggregates,
    offset_columns,
    offset_zone,
    raise_first_failure,
    read_offsets,
    transaction_checks,
)
from clvmodels.engines.window import (
    CustomerTotals,
    SummaryRequest,
    finish_summary,
    resolve_window,
)
from clvmodels.validation import ValidationError, non_scalar_ids, require_columns

__all__ = ["summarise"]

# Dates are counted in microseconds since 1970 (DuckDB's TIMESTAMP: years 290,308 BC to
# 294,247 AD), so no date a file can hold overflows, as nanoseconds did after 2262.
_US_PER_DAY = 86_400 * 10**6
_PERIOD_US = {"D": _US_PER_DAY, "h": _US_PER_DAY // 24}
# DuckDB's // truncates towards zero; periods before 1970 need the floor.
_FLOOR_DIV = "(({x}) // {m} - CASE WHEN ({x}) % {m} < 0 THEN 1 ELSE 0 END)"
_DATE_TYPES = ("DATE", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
_NUMBER_TYPES = (*_INTEGER_TYPES, "FLOAT", "DOUBLE")
# Files with time-zone-aware timestamps are read in UTC (as pandas reads them from Parquet).
_FILE_TIME_ZONE = "UTC"
# The strings pandas.read_csv reads as missing by default (its na_values documentation).
_PANDAS_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)


def _import_duckdb():
    try:
        import duckdb
    except ImportError as error:
        raise ImportError(
            'engine="duckdb" needs the duckdb package: pip install "clvmodels[fast]"'
        ) from error
    return duckdb


def summarise(transactions: object, request: SummaryRequest) -> pd.DataFrame:
    """:func:`~clvmodels.rfm_summary` (``request.calibration_end`` None) or
    :func:`~clvmodels.calibration_holdout` on DuckDB; see there."""
    duckdb = _import_duckdb()
    if not isinstance(transactions, (pd.DataFrame, str, os.PathLike)):
        raise ValidationError(
            "engine='duckdb' expected a pandas DataFrame or the path of a CSV or Parquet file, "
            f"got {type(transactions).__name__}"
        )
    with tempfile.TemporaryDirectory(prefix="clvmodels-duckdb-") as spill:
        connection = duckdb.connect(config={"temp_directory": spill})
        try:
            if isinstance(transactions, pd.DataFrame):
                return _summarise_frame(connection, transactions, request)
            return _summarise_file(connection, transactions, request)
        finally:
            connection.close()


def _summarise_frame(connection, transactions: pd.DataFrame, request: SummaryRequest
                     ) -> pd.DataFrame:
    """A DataFrame, checked and coded as by the pandas engine, aggregated by DuckDB."""
    log = read_log(transactions, request)
    frame = pd.DataFrame({"c": log.code, "p": log.period})
    if log.amount is not None:
        frame["a"] = log.amount
    connection.register("log", frame)
    window = resolve_window(request, first_date=log.first_date, last_date=log.last_date,
                            n_rows=len(frame), tz=log.tz, clock=log.clock(request))
    columns = _aggregate(connection, "p", window, request)
    return finish_summary(log.customers[_values(columns["c"])], _totals(columns, request),
                          window, request, len(frame))


def _summarise_file(connection, path, request: SummaryRequest) -> pd.DataFrame:
    """A CSV or Parquet file, checked and aggregated by DuckDB."""
    with _file_errors(path):
        n_rows, first_date, last_date, tz = _register_file(connection, path, request)
        window = resolve_window(request, first_date=first_date, last_date=last_date,
                                n_rows=n_rows, tz=tz)
        period = _FLOOR_DIV.format(x="us", m=_PERIOD_US[request.resolution.value])
        columns = _aggregate(connection, period, window, request)
    customers = pd.Index(_values(columns["c"]), name=request.customer_col)
    return finish_summary(customers, _totals(columns, request), window, request, n_rows)


@contextmanager
def _file_errors(path) -> Iterator[None]:
    """Turn DuckDB's errors about an unreadable file into clvmodels' own.

    A file DuckDB cannot decode (a truncated or corrupt gzip stream, a ``.gz`` that is not
    gzip, bytes that are not UTF-8, a line that is not CSV, a damaged Parquet footer) is a
    :class:`~clvmodels.validation.ValidationError` naming the file and DuckDB's reason, in one
    line; a file Python cannot open either raises Python's own ``OSError``; an I/O error that
    is not about the file (e.g. the spill directory is full) an ``OSError``. Errors of the
    engine's own SQL (binder, parser, catalog) stay as they are: they are bugs.
    """
    duckdb = _import_duckdb()
    try:
        yield
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException,
            duckdb.InternalException, duckdb.NotImplementedException):
        raise
    except duckdb.Error as error:
        name = str(path)
        reason = _one_line(str(error))
        about_file = Path(name).name in str(error) or name in str(error)
        if isinstance(error, duckdb.IOException) and not about_file:
            raise OSError(f"DuckDB could not read or write a file: {reason}") from None
        if not isinstance(error, (duckdb.IOException, duckdb.InvalidInputException)) and (
                type(error) is not duckdb.Error and not about_file):
            raise
        if not any(ch in name for ch in "*?["):
            with open(name, "rb") as handle:  # Python's own OSError if it cannot be opened
                if not handle.read(1):
                    raise empty_table() from None  # (DuckDB: no header to sniff)
        kind = "Parquet" if _suffix(name) in (".parquet", ".pq") else "CSV"
        raise ValidationError(
            f"transactions file {name} is not a readable {kind} file: {reason}"
        ) from None


def _one_line(message: str) -> str:
    """DuckDB's reason in one line: its first paragraph without the type prefix, the quoted
    line of the file or the list of possible fixes."""
    lines = []
    for line in message.strip().splitlines():
        line = line.strip()
        if not line or line.startswith(("Possible", "*", "The search space")):
            break
        if not line.startswith("Original Line:"):
            lines.append(line)
    text = "; ".join(lines) or message.strip()
    for prefix in ("Invalid Input Error: ", "IO Error: ", "Conversion Error: "):
        text = text.removeprefix(prefix)
    # Bytes of a damaged file can reach the message: show them escaped, on the one line.
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _aggregate(connection, period: str, window, request: SummaryRequest) -> dict:
    """The per-customer aggregation of the ``log`` view, ordered by customer."""
    query = aggregation_sql(
        "log", period=period, cut=window.cut, end=window.end_period,
        with_amount=request.amount_col is not None,
    )
    return connection.execute(query + " ORDER BY pc.c").fetchnumpy()


def _totals(columns: dict, request: SummaryRequest) -> CustomerTotals:
    with_amount = request.amount_col is not None
    return CustomerTotals(
        n_periods=_values(columns["n_periods"]), first=_values(columns["first"]),
        last=_values(columns["last"]), holdout_periods=_values(columns["holdout_periods"]),
        n_after=_values(columns["n_after"]), earliest=_values(columns["earliest"]),
        latest=_values(columns["latest"]),
        repeat_spend=_values(columns["repeat_spend"]) if with_amount else None,
        holdout_spend=_values(columns["holdout_spend"]) if with_amount else None,
    )


def _values(array: np.ndarray) -> np.ndarray:
    """A fetched column as a plain array (DuckDB returns masked arrays for nullable ones)."""
    return np.ma.getdata(array)


def _register_file(connection, path, request: SummaryRequest):
    """Check a CSV or Parquet file in one scan, then define the ``log`` view over it.

    Returns the number of rows, the first and last date and the dates' time zone.
    """
    customer_col, date_col, amount_col = request.customer_col, request.date_col, request.amount_col
    connection.execute(f"SET TimeZone = '{_FILE_TIME_ZONE}'")
    source = _read_file(connection, path)
    types = dict(zip(source.columns, (str(t) for t in source.dtypes), strict=True))
    require_columns(pd.DataFrame(columns=list(types)),
                    [customer_col, date_col] + ([amount_col] if amount_col else []))
    if types[customer_col].endswith("]") or types[customer_col].startswith(
            ("STRUCT", "MAP", "UNION")):  # (a list column of a Parquet file, say)
        raise non_scalar_ids(customer_col, f"{types[customer_col]} (DuckDB's type of the column)")
    dates = _FileDates.of(DUCKDB.quote(date_col), types[date_col], request,
                          lambda: _recorded_zone(path, date_col))
    amount_number = None
    amount_type, amount_is_numeric = "", False
    if amount_col:
        amount_type = types[amount_col]
        amount_is_numeric = amount_type in _NUMBER_TYPES or amount_type.startswith("DECIMAL")
        amount_number = amount_as_double(DUCKDB.quote(amount_col), is_numeric=amount_is_numeric,
                                         is_text=amount_type == "VARCHAR")
    checks = transaction_checks(
        DUCKDB, request, parsed_date=dates.parsed, date_is_number=dates.is_number,
        amount_number=amount_number, amount_is_numeric=amount_is_numeric,
        amount_type=amount_type,
    )
    source.create_view("source")
    connection.execute("CREATE VIEW dated AS " + dates.view("source"))
    offsets = offset_aggregates(DUCKDB.quote(date_col)) if dates.offsets else []
    counts = connection.execute(
        f"SELECT count(*), min({INSTANT}), max({INSTANT}), "
        + ", ".join([f"count_if({check.condition})" for check in checks] + offsets)
        + " FROM dated"
    ).fetchone()
    n_rows, first, last = counts[:3]
    if n_rows == 0:
        raise empty_table()
    found = read_offsets(counts[3 + len(checks):]) if dates.offsets else None
    raise_first_failure(DUCKDB, checks, list(counts[3:3 + len(checks)]), offsets=found,
                        request=request, source="source",
                        fetch_one=lambda query: connection.execute(query).fetchone())
    connection.execute(
        f"CREATE VIEW log AS SELECT {DUCKDB.quote(customer_col)} AS c, "
        f"{dates.wall(found, request.timezone)} AS us"
        + (f", {amount_number} AS a" if amount_col else "")
        + " FROM dated"
    )
    tz = dates.zone_of(found, request.timezone)
    first_date, last_date = (pd.Timestamp(value, unit="us", tz="UTC" if tz else None)
                             for value in (first, last))
    if tz is not None:
        first_date, last_date = first_date.tz_convert(tz), last_date.tz_convert(tz)
    return n_rows, first_date, last_date, tz


@dataclass(frozen=True)
class _FileDates:
    """SQL of a file's date column: the parsed date the checks test (None when the column
    holds dates), the instant in microseconds since 1970 (for naive dates their wall time;
    None when the column holds no dates) and the wall time as written (the same when None).

    ``offsets`` says whether the column is text whose UTC offsets count (the view adds
    :data:`~clvmodels.engines.sql.OFFSET` and :data:`~clvmodels.engines.sql.MINUTES`);
    ``zone`` is the zone of a time-zone-aware column.
    """

    date: str
    parsed: str | None
    instant: str | None
    written: str | None
    is_number: bool = False
    offsets: bool = False
    zone: str | None = None
    date_format: str | None = None

    @classmethod
    def of(cls, date: str, date_type: str, request: SummaryRequest,
           recorded_zone: Callable[[], str]) -> _FileDates:
        """The SQL of a column of ``date_type``; ``recorded_zone`` reads the zone a writer
        recorded for a time-zone-aware column (asked only for such a column).

        Text is read as pandas reads it only in years 1 to 9999 (pandas refuses a five-digit
        year): DuckDB's later and earlier years are refused as unparseable, as pandas does.
        """
        if date_type == "TIMESTAMP_NS":  # (a cast to microseconds would truncate, not floor)
            us = _FLOOR_DIV.format(x=f"epoch_ns({date})", m=1000)
            return cls(date, None, us, None)
        if date_type in _DATE_TYPES:
            return cls(date, None, f"epoch_us(CAST({date} AS TIMESTAMP))", None)
        if date_type.startswith("TIMESTAMP WITH TIME ZONE"):  # an instant
            zone = request.timezone or recorded_zone()
            return cls(date, None, f"epoch_us({date})", None, zone=zone)
        is_number = date_type in _NUMBER_TYPES or date_type.startswith("DECIMAL")
        if is_number and request.date_format is None:
            return cls(date, None, None, None, is_number=True)
        text = date if date_type == "VARCHAR" else f"CAST({date} AS VARCHAR)"
        date_format = request.date_format
        if date_format is None:
            read = f"TRY_CAST({text} AS TIMESTAMP)"
        else:
            escaped = date_format.replace("'", "''")
            read = f"try_strptime({text}, '{escaped}')"
        parsed = f"(CASE WHEN year({read}) BETWEEN 1 AND 9999 THEN {read} END)"
        shift = f"coalesce({MINUTES}, 0) * CAST(60000000 AS BIGINT)"
        if date_format is not None and "%z" in date_format:  # try_strptime reads the instant
            instant, written = f"epoch_us({parsed})", f"(epoch_us({parsed}) + {shift})"
        else:  # TRY_CAST reads the time as written, leaving out its offset
            instant, written = f"(epoch_us({parsed}) - {shift})", f"epoch_us({parsed})"
        return cls(date, parsed, instant, written, is_number=is_number, offsets=True,
                   date_format=date_format)

    def view(self, source: str) -> str:
        """A query of ``source`` with the columns this needs added."""
        instant = "NULL" if self.instant is None else self.instant
        if not self.offsets:
            return f"SELECT *, {instant} AS {INSTANT} FROM {source}"
        token, minutes = offset_columns(f"CAST({self.date} AS VARCHAR)", self.date_format)
        return (f"SELECT *, {instant} AS {INSTANT} FROM (SELECT *, {minutes} FROM "
                f"(SELECT *, {token} FROM {source}))")

    def wall(self, found: UtcOffsets | None, timezone: str | None) -> str:
        """SQL of the wall time in microseconds since 1970 on the rule's clock: the zone's
        for an aware column, ``timezone``'s for text with offsets when it is given, else the
        time as written."""
        if self.zone is not None:
            return f"epoch_us(timezone('{self.zone}', {self.date}))"
        if found is not None and found.n_with and timezone is not None:
            return f"epoch_us(timezone('{timezone}', timezone('UTC', make_timestamp({INSTANT}))))"
        return INSTANT if self.written is None else self.written

    def zone_of(self, found: UtcOffsets | None, timezone: str | None) -> tzinfo | str | None:
        """The dates' time zone: an aware column's, ``timezone`` or the one offset of text
        with offsets, None for naive dates."""
        if self.zone is not None:
            return self.zone
        if found is not None and found.n_with:
            return timezone if timezone is not None else offset_zone(found.lowest)
        return None


def _recorded_zone(path, date_col: str) -> str:
    """The time zone a Parquet writer recorded for a time-zone-aware column (its Arrow
    schema, as pandas reads it), else UTC; the first file of a glob speaks for all."""
    try:
        import pyarrow.parquet as parquet
    except ImportError:  # pandas cannot read the file without pyarrow either
        return "UTC"
    name = str(path)
    if any(ch in name for ch in "*?["):
        name = sorted(glob.glob(name))[0]
    field = parquet.read_schema(name).field(date_col)
    return getattr(field.type, "tz", None) or "UTC"


def _read_file(connection, path):
    """A relation over a CSV or Parquet file.

    A CSV file is read as the pandas engine's reader (``clvmodels summarize``) reads one: a
    header line, fields separated by commas (tabs in a ``.tsv`` file), quoted with ``"``,
    pandas' default missing-value markers (``""``, ``NA``, ``NaN``, ``null`` ...) as NULL,
    and every column as text. DuckDB's sniffer would otherwise guess the types: ids ``1``,
    ``1.0`` and ``1.00`` became one number (and 20-digit ids colliding floats), ``00123``
    the id 123, and dates were read in a day/month order of its choosing; dates are parsed
    and amounts converted by the checks instead.
    """
    name = str(path)
    has_glob = any(ch in name for ch in "*?[")
    if not has_glob and not Path(name).exists():
        raise FileNotFoundError(f"{name}: no such transaction file")
    suffix = _suffix(name)
    if suffix in (".parquet", ".pq"):
        return connection.read_parquet(name)
    if suffix in (".csv", ".tsv", ".txt"):
        return connection.read_csv(
            name, header=True, sep="\t" if suffix == ".tsv" else ",", quotechar='"',
            escapechar='"', all_varchar=True, na_values=list(_PANDAS_NA_VALUES),
        )
    raise ValueError(
        f"{name}: expected a .csv (.tsv, .txt, optionally compressed) or .parquet file"
    )


def _suffix(name: str) -> str | None:
    """The file type's suffix, after any compression suffix."""
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst", ".bz2"):
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else None

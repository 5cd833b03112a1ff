"""What the SQL engines (DuckDB, Spark) share: the input checks, in the pandas engine's order and
words, and the SQL of the per-customer aggregation.

The pandas engine checks a DataFrame row by row (:func:`clvmodels.validation.check_transactions`);
a SQL engine counts the failing rows of each check in one scan and, for the first check that
fails, fetches one example row, then raises the same :class:`~clvmodels.validation.ValidationError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo

from clvmodels.dates import UtcOffsets, utc_offset_pattern
from clvmodels.engines.window import SummaryRequest
from clvmodels.validation import ValidationError, check_utc_offsets, invalid_rows

#: Layouts of ``strftime`` (pandas, DuckDB) and their Java ``DateTimeFormatter`` spelling (Spark).
STRFTIME_TO_JAVA = {
    "%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS",
    "%y": "yy", "%b": "MMM", "%B": "MMMM", "%j": "DDD", "%p": "a", "%I": "hh", "%%": "%",
}


@dataclass(frozen=True)
class Check:
    """One input check: rows of ``column`` where the SQL ``condition`` holds are invalid.

    ``example_of`` names the label shown for the first such row (``"customer"``: its customer
    id; ``"row"``: its row number), ``with_value`` whether its value is shown too: the raw
    one, or the SQL ``value`` (e.g. the number read from a text amount, as pandas shows it).
    """

    column: str
    condition: str
    expected: str
    example_of: str = "customer"
    with_value: bool = True
    value: str | None = None


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL of the engines: the ``name`` messages give the parser
    ("dates DuckDB can parse"), how a column name is quoted, the test for NaN or infinity
    (``{x}`` for the value) and a row's number in file order (from 1)."""

    name: str
    quote: Callable[[str], str]
    not_finite: str
    row_number: str


def _double_quoted(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _backquoted(name: str) -> str:
    return "`" + str(name).replace("`", "``") + "`"


DUCKDB = Dialect("DuckDB", _double_quoted, "(isinf({x}) OR isnan({x}))", "row_number() OVER ()")
SPARK = Dialect("Spark", _backquoted, "(isnan({x}) OR abs({x}) = double('Infinity'))",
                "row_number() OVER (ORDER BY monotonically_increasing_id())")


def transaction_checks(
    dialect: Dialect,
    request: SummaryRequest,
    *,
    parsed_date: str | None,
    date_is_number: bool,
    amount_number: str | None,
    amount_is_numeric: bool,
    amount_type: str,
) -> list[Check]:
    """The checks of :func:`clvmodels.validation.check_transactions`, in its order, as SQL.

    ``parsed_date`` is the SQL expression of the parsed date (None when the column already
    holds dates), ``amount_number`` the amount as a double (NULL where it is not a number;
    None when the column's type cannot hold numbers) and ``amount_is_numeric`` whether the
    column is of a numeric type (its NaN then counts as missing, as in pandas).
    """
    customer_col, date_col, amount_col = request.customer_col, request.date_col, request.amount_col
    date_format = request.date_format
    customer, date = dialect.quote(customer_col), dialect.quote(date_col)
    amount = dialect.quote(amount_col) if amount_col else None
    checks = [
        Check(customer_col, f"{customer} IS NULL", "a customer id on every row",
              example_of="row", with_value=False),
        Check(date_col, f"{date} IS NULL", "a purchase date on every row", with_value=False),
    ]
    if date_is_number and date_format is None:
        checks.append(Check(
            date_col, "TRUE",
            "dates; numbers need date_format (e.g. date_format='%Y%m%d' for 19970101)",
        ))
    elif parsed_date is not None:
        expected = (
            f"dates in the format {date_format!r}" if date_format
            else f"dates {dialect.name} can parse (pass date_format=... for other layouts)"
        )
        checks.append(Check(date_col, f"{parsed_date} IS NULL", expected))
    if amount is None:
        return checks
    missing = f"{amount} IS NULL"
    if amount_is_numeric:
        missing += f" OR isnan({amount_number})"
    checks.append(Check(amount_col, missing, "a spend amount on every row", with_value=False))
    checks.append(Check(
        amount_col, "TRUE" if amount_number is None else f"{amount_number} IS NULL",
        f"numbers (the column has dtype {amount_type})",
    ))
    if amount_number is not None:
        checks.append(Check(amount_col, dialect.not_finite.format(x=amount_number),
                            "finite amounts", value=amount_number))
        checks.append(Check(
            amount_col, f"{amount_number} < 0",
            "non-negative amounts (net refunds out of the purchases before summarising)",
            value=amount_number,
        ))
    return checks


def amount_as_double(amount: str, *, is_numeric: bool, is_text: bool) -> str | None:
    """SQL of an amount column as a double: a cast of a numeric column, a ``TRY_CAST`` of a
    text one (NULL where it is not a number), None for a column of any other type."""
    if is_numeric:
        return f"CAST({amount} AS DOUBLE)"
    if is_text:
        return f"TRY_CAST({amount} AS DOUBLE)"
    return None


def example_error(
    dialect: Dialect,
    failure: tuple[Check, int],
    *,
    source: str,
    customer_col: str,
    fetch_one: Callable[[str], tuple],
) -> ValidationError:
    """The pandas engine's message for a failed check, with one example row of ``source``
    (``fetch_one`` runs a query and returns its first row)."""
    check, count = failure
    if check.example_of == "row":
        row = fetch_one(
            f"SELECT row FROM (SELECT {dialect.row_number} - 1 AS row, * FROM {source}) "
            f"WHERE {check.condition} LIMIT 1"
        )
        return invalid_rows(check.column, count, row[0], check.expected, example_of="row")
    value = check.value or dialect.quote(check.column)
    row = fetch_one(f"SELECT {dialect.quote(customer_col)}, {value} "
                    f"FROM {source} WHERE {check.condition} LIMIT 1")
    if check.with_value:
        return invalid_rows(check.column, count, row[0], check.expected, value=row[1])
    return invalid_rows(check.column, count, row[0], check.expected)


def first_failure(counts: list[int], checks: list[Check]) -> tuple[Check, int] | None:
    """The first check (in the pandas engine's order) with invalid rows, and their count."""
    for check, count in zip(checks, counts, strict=True):
        if count:
            return check, int(count)
    return None


def raise_first_failure(
    dialect: Dialect,
    checks: list[Check],
    counts: list[int],
    *,
    offsets: UtcOffsets | None,
    request: SummaryRequest,
    source: str,
    fetch_one: Callable[[str], tuple],
) -> None:
    """Raise the pandas engine's error for the first failed check, in its order: a missing id
    or date, then the UTC offsets of text dates (``offsets``, see
    :func:`~clvmodels.validation.check_utc_offsets`), then the other checks."""
    for part in (slice(0, 2), slice(2, None)):
        failure = first_failure(counts[part], checks[part])
        if failure is not None:
            raise example_error(dialect, failure, source=source,
                                customer_col=request.customer_col, fetch_one=fetch_one)
        if part.start == 0 and offsets is not None:
            check_utc_offsets(request.date_col, offsets, request.timezone)


#: Column names the SQL engines add to a view of the input (a row's UTC offset as written, in
#: minutes, and its date in microseconds since 1970).
OFFSET, MINUTES, INSTANT = "clvmodels_offset", "clvmodels_minutes", "clvmodels_instant"


def offset_columns(text: str, date_format: str | None) -> list[str]:
    """SQL of the columns :data:`OFFSET` and :data:`MINUTES` of a text date column, found as
    the pandas engine finds them (:func:`~clvmodels.dates.utc_offset_pattern`, which RE2
    (DuckDB) and Java (Spark) read alike): the offset as written (``''`` without one) and in
    minutes east of UTC (NULL without one). The second refers to the first: two projections.
    """
    digits = f"replace(substr({OFFSET}, 2), ':', '')"
    return [
        f"regexp_extract({text}, '{utc_offset_pattern(date_format)}', 1) AS {OFFSET}",
        f"CASE WHEN {OFFSET} = '' THEN NULL WHEN {OFFSET} = 'Z' THEN 0 ELSE "
        f"(CASE WHEN substr({OFFSET}, 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"(CAST(substr({digits}, 1, 2) AS INT) * 60 + CASE WHEN length({digits}) = 4 "
        f"THEN CAST(substr({digits}, 3, 2) AS INT) ELSE 0 END) END AS {MINUTES}",
    ]


def offset_aggregates(date: str) -> list[str]:
    """The aggregates of a scan that make :class:`~clvmodels.dates.UtcOffsets`
    (:func:`read_offsets`), over the columns of :func:`offset_columns`."""
    return [f"count({MINUTES})", f"count_if({date} IS NOT NULL AND {MINUTES} IS NULL)",
            f"count(DISTINCT {MINUTES})", f"min({MINUTES})", f"max({MINUTES})"]


def read_offsets(values: list | tuple) -> UtcOffsets:
    """The offsets from the values of :func:`offset_aggregates`."""
    n_with, n_without, n_distinct, lowest, highest = values
    return UtcOffsets(int(n_with), int(n_without), int(n_distinct),
                      None if lowest is None else int(lowest),
                      None if highest is None else int(highest))


def offset_zone(minutes: int) -> tzinfo:
    """The fixed time zone of an offset (UTC for 0), as pandas gives strings that carry it."""
    return dt.UTC if minutes == 0 else dt.timezone(dt.timedelta(minutes=minutes))


def empty_table() -> ValidationError:
    return ValidationError("the transaction table is empty; expected at least one purchase row")


def strftime_to_java(date_format: str) -> str:
    """A ``strftime`` layout in Java's ``DateTimeFormatter`` pattern language (for Spark).

    Literal text is quoted; a directive without a Java equivalent raises ``ValueError``.
    """
    pattern, literal, i = [], [], 0
    while i < len(date_format):
        if date_format[i] == "%":
            directive = date_format[i:i + 2]
            if directive not in STRFTIME_TO_JAVA:
                raise ValueError(
                    f"date_format {date_format!r}: the Spark engine cannot translate "
                    f"{directive!r}; it knows {', '.join(STRFTIME_TO_JAVA)}"
                )
            if literal:
                pattern.append("'" + "".join(literal).replace("'", "''") + "'")
                literal = []
            pattern.append(STRFTIME_TO_JAVA[directive])
            i += 2
        else:
            literal.append(date_format[i])
            i += 1
    if literal:
        pattern.append("'" + "".join(literal).replace("'", "''") + "'")
    return "".join(pattern)


def aggregation_sql(source: str, *, period: str, cut: int, end: int, with_amount: bool) -> str:
    """Per customer, in one query: periods bought in by ``cut`` (count, first, last), periods
    in (cut, end], rows after ``end``, the earliest and latest period up to ``end``, and the
    spend after the first period up to ``cut`` and in (cut, end].

    ``source`` has columns ``c`` (customer) and ``a`` (amount), and ``period`` is the SQL of a
    row's period number (whole days or hours since 1970 in the dates' own calendar). For
    :func:`~clvmodels.rfm_summary` ``cut == end``. Spend is summed over the rows (not per
    period first), as the pandas engine does.
    """
    amount = ", a" if with_amount else ""
    spend_select = (
        ", coalesce(s.repeat_spend, 0.0) AS repeat_spend, "
        "coalesce(s.holdout_spend, 0.0) AS holdout_spend" if with_amount else ""
    )
    spend_join = f"""
        LEFT JOIN (
            SELECT l.c,
                sum(CASE WHEN l.p > pc.first AND l.p <= {cut} THEN l.a END) AS repeat_spend,
                sum(CASE WHEN l.p > {cut} THEN l.a END) AS holdout_spend
            FROM periods l JOIN per_customer pc ON l.c = pc.c
            WHERE l.p <= {end}
            GROUP BY l.c
        ) s ON s.c = pc.c""" if with_amount else ""
    return f"""
        WITH periods AS (SELECT c, {period} AS p{amount} FROM {source}),
        by_period AS (SELECT c, p, count(*) AS n_rows FROM periods GROUP BY c, p),
        per_customer AS (
            SELECT c,
                count(CASE WHEN p <= {cut} THEN 1 END) AS n_periods,
                min(CASE WHEN p <= {cut} THEN p END) AS first,
                max(CASE WHEN p <= {cut} THEN p END) AS last,
                count(CASE WHEN p > {cut} AND p <= {end} THEN 1 END) AS holdout_periods,
                coalesce(sum(CASE WHEN p > {end} THEN n_rows END), 0) AS n_after,
                min(CASE WHEN p <= {end} THEN p END) AS earliest,
                max(CASE WHEN p <= {end} THEN p END) AS latest
            FROM by_period GROUP BY c
        )
        SELECT pc.c, pc.n_periods, pc.first, pc.last, pc.holdout_periods, pc.n_after,
            pc.earliest, pc.latest{spend_select}
        FROM per_customer pc{spend_join}
    """

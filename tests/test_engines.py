"""The DuckDB engine of rfm_summary / calibration_holdout gives the pandas engine's results.

What "the same" means: the integer columns, recency, T and duration_holdout come from the same
integer periods through the same two floating-point operations (TimeUnit.from_periods), so they
are compared exactly (0 ulp), with the index, dtypes and attrs. Mean spend is a sum of a
customer's amounts divided by a count; each engine adds the amounts in its own order, and a sum
of n non-negative terms in any order is within (n - 1) * 2**-53 of the exact sum (relative), so
two engines differ by at most 2 (n - 1) * 2**-53 relative. It is compared exactly when every
partial sum is exact (amounts in multiples of 1/8 below 2**40), and otherwise to that bound.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from clvmodels import ValidationError, calibration_holdout, rfm_summary
from clvmodels.datasets import load_cdnow_transactions

pytest.importorskip("duckdb")

DAY0 = pd.Timestamp("2020-01-01")
EXACT_COLUMNS = ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return function(*args, **kwargs)


def assert_same_summary(ours: pd.DataFrame, reference: pd.DataFrame, max_terms: int | None = None):
    """Equal tables: exactly, or with spend columns to the summation-order bound of
    ``max_terms`` amounts per customer (see the module docstring)."""
    assert ours.attrs == reference.attrs
    if max_terms is None:
        assert_frame_equal(ours, reference, check_exact=True)
        return
    spend = [c for c in reference.columns if c.startswith("monetary_value")]
    assert_frame_equal(ours.drop(columns=spend), reference.drop(columns=spend), check_exact=True)
    bound = 2 * max(max_terms - 1, 1) * 2.0**-53
    for column in spend:
        np.testing.assert_allclose(ours[column], reference[column], rtol=bound, atol=0)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_transactions()


@pytest.fixture(scope="module")
def cdnow_files(cdnow: pd.DataFrame, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cdnow")
    paths = {"parquet": folder / "cdnow.parquet", "csv": folder / "cdnow.csv"}
    cdnow.to_parquet(paths["parquet"])
    cdnow.to_csv(paths["csv"], index=False)
    return paths


def _read_like_the_cli(path: Path) -> pd.DataFrame:
    """A CSV log read as the pandas engine's reader (clvmodels summarize) reads it: ids and
    dates as text."""
    return pd.read_csv(path, dtype={"customer_id": str, "date": str})


def _max_rows_per_customer(log: pd.DataFrame) -> int:
    return int(log["customer_id"].value_counts().max())


@pytest.mark.parametrize("source", ["frame", "parquet", "csv"])
@pytest.mark.parametrize("options", [
    {"observation_end": "1997-09-30"},
    {},
    {"time_unit": "D", "resolution": "h"},
    {"time_unit": "M", "observation_end": pd.Timestamp("1998-01-15 13:00")},
], ids=["published", "default-end", "hours", "months"])
def test_duckdb_summary_equals_pandas_on_cdnow(cdnow, cdnow_files, source, options):
    transactions = cdnow if source == "frame" else cdnow_files[source]
    # A CSV file's ids are text, for both engines (the CLI reads them so).
    log = _read_like_the_cli(transactions) if source == "csv" else cdnow
    reference = _quiet(rfm_summary, log, amount_col="amount", **options)
    ours = _quiet(rfm_summary, transactions, amount_col="amount", engine="duckdb", **options)
    assert_same_summary(ours, reference, _max_rows_per_customer(cdnow))


@pytest.mark.parametrize("source", ["frame", "parquet"])
def test_duckdb_calibration_holdout_equals_pandas_on_cdnow(cdnow, cdnow_files, source):
    transactions = cdnow if source == "frame" else cdnow_files[source]
    options = dict(amount_col="amount", calibration_end="1997-09-30",
                   observation_end="1998-03-31", time_unit="W")
    reference = _quiet(calibration_holdout, cdnow, **options)
    ours = _quiet(calibration_holdout, transactions, engine="duckdb", **options)
    assert_same_summary(ours, reference, _max_rows_per_customer(cdnow))


def test_same_warning_from_every_engine_pointing_at_the_caller(cdnow):
    messages = []
    for engine in ("pandas", "duckdb"):
        with pytest.warns(UserWarning, match="1959 transaction") as record:
            rfm_summary(cdnow, observation_end="1997-09-30", engine=engine)
        assert record[0].filename == __file__
        messages.append(str(record[0].message))
    assert messages[0] == messages[1]


# Logs of customers 0..9 (some as strings), purchases within 400 days either side of
# 1970-01-01 (periods before it need floor division), amounts in eighths: every sum is exact.
_rows = st.lists(
    st.tuples(st.integers(0, 9), st.integers(-400 * 24, 400 * 24), st.integers(0, 8000)),
    min_size=1, max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, resolution=st.sampled_from(["D", "h"]), unit=st.sampled_from(["D", "W", "h"]),
       end_shift=st.integers(-200, 10), calibration_shift=st.one_of(st.none(), st.integers(1, 300)),
       string_ids=st.booleans(), far_days=st.sampled_from([0, -100_000, 110_000]))
def test_duckdb_equals_pandas_exactly_on_random_logs(rows, resolution, unit, end_shift,
                                                     calibration_shift, string_ids, far_days):
    """... also around 1696 and 2271 (far_days), outside the range of nanoseconds."""
    customers, hours, eighths = zip(*rows, strict=True)
    minutes = pd.to_timedelta(np.array(hours) * 37, unit="min").to_numpy().astype("m8[us]")
    log = pd.DataFrame({
        "customer_id": [f"c{c}" if string_ids else c for c in customers],
        "date": np.datetime64("1970-01-01", "us") + np.timedelta64(far_days, "D") + minutes,
        "amount": np.array(eighths) / 8,
    })
    end = log["date"].max() + pd.Timedelta(hours=end_shift)
    options = dict(amount_col="amount", observation_end=end, resolution=resolution,
                   time_unit=unit)
    function = rfm_summary
    if calibration_shift is not None:
        function = calibration_holdout
        options["calibration_end"] = end - pd.Timedelta(hours=calibration_shift)
    try:
        reference = _quiet(function, log, **options)
    except ValueError as error:  # the same refusal from both engines
        with pytest.raises(type(error), match="^" + _escape(str(error)) + "$"):
            _quiet(function, log, engine="duckdb", **options)
        return
    assert_same_summary(_quiet(function, log, engine="duckdb", **options), reference)


# The same property for files, with what a file can hold that a DataFrame of the test above
# cannot: ids that look like numbers (text to both engines: none of them merges with another),
# dates far outside the nanosecond range (1696 to 2271), and UTC offsets: one for every date,
# a daylight-saving export's two (read with a timezone, or refused), or a mix with plain dates
# (refused). Both engines must give the same table, the same warnings, or the same error.
_NUMERIC_LOOKING_IDS = ["1", "1.0", "1.00", "01", "001", "+1", "0", "-0", "1e3", "1000",
                        "12345678901234567890", "12345678901234567891", str(2**53),
                        str(2**53 + 1)]
_OFFSETS = {"none": [""], "one": ["+01:00"], "west": ["-05:30"], "utc": ["Z", "+00:00"],
            "daylight saving": ["+01:00", "+02:00"], "mixed": ["+01:00", ""]}
_file_rows = st.lists(
    st.tuples(st.sampled_from(_NUMERIC_LOOKING_IDS), st.integers(-100_000, 110_000),
              st.integers(0, 23), st.integers(0, 8000), st.integers(0, 1)),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_file_rows, offsets=st.sampled_from(list(_OFFSETS)),
       timezone=st.sampled_from([None, "UTC", "Europe/Paris"]),
       resolution=st.sampled_from(["D", "h"]), unit=st.sampled_from(["D", "W"]),
       calibration_day=st.one_of(st.none(), st.integers(-100_000, 110_000)))
def test_duckdb_equals_pandas_exactly_on_random_files(tmp_path_factory, rows, offsets, timezone,
                                                      resolution, unit, calibration_day):
    lines, used = ["customer_id,date,amount"], set()
    for customer, day, hour, eighths, which in rows:
        offset = _OFFSETS[offsets][which % len(_OFFSETS[offsets])]
        used.add(_MINUTES[offset])
        moment = np.datetime64(day, "D") + np.timedelta64(hour, "h") + np.timedelta64(7, "m")
        lines.append(f"{customer},{np.datetime64(moment, 's')}{offset},{eighths / 8!r}")
    path = tmp_path_factory.mktemp("random") / "log.csv"
    path.write_text("\n".join(lines) + "\n")
    function, options = rfm_summary, dict(amount_col="amount", resolution=resolution,
                                          time_unit=unit, timezone=timezone)
    if calibration_day is not None:
        function = calibration_holdout
        options["calibration_end"] = str(np.datetime64(calibration_day, "D"))
    outcomes = []
    for engine, source in (("pandas", _read_like_the_cli(path)), ("duckdb", path)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome = function(source, engine=engine, **options)
            except (ValidationError, ValueError) as error:
                outcome = error
        outcomes.append((outcome, [str(w.message) for w in caught]))
    (reference, expected_warnings), (ours, got_warnings) = outcomes
    assert got_warnings == expected_warnings
    # The rule: a mix of offset and plain dates is refused, different offsets need timezone.
    refused = (None in used and len(used) > 1) or (len(used - {None}) > 1 and timezone is None)
    if isinstance(reference, Exception):
        assert type(ours) is type(reference) and str(ours) == str(reference)
        window_error = "calibration_end" in str(reference)
        assert refused == ("UTC offset" in str(reference)) and (refused or window_error)
        return
    assert not refused
    assert_same_summary(ours, reference)


_MINUTES = {"": None, "Z": 0, "+00:00": 0, "+01:00": 60, "+02:00": 120, "-05:30": -330}


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_time_zone_aware_dates_use_their_local_calendar():
    dates = pd.to_datetime(["2021-03-01 23:30", "2021-03-02 00:30", "2021-03-10 12:00"])
    log = pd.DataFrame({"customer_id": [1, 1, 1],
                        "date": dates.tz_localize("Europe/Paris"), "amount": [1.0, 2.0, 4.0]})
    end = pd.Timestamp("2021-03-20", tz="Europe/Paris")
    reference = rfm_summary(log, amount_col="amount", observation_end=end, time_unit="D")
    ours = rfm_summary(log, amount_col="amount", observation_end=end, time_unit="D",
                       engine="duckdb")
    assert_same_summary(ours, reference)
    assert ours["frequency"].iloc[0] == 2


def test_string_dates_with_a_format_from_a_csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("customer,day,spend\na,19970101,1.5\na,19970105,2.25\nb,19970102,3\n")
    reference = rfm_summary(pd.read_csv(path), "customer", "day", "spend",
                            date_format="%Y%m%d", observation_end=19970110)
    ours = rfm_summary(path, "customer", "day", "spend", date_format="%Y%m%d",
                       observation_end=19970110, engine="duckdb")
    assert_same_summary(ours, reference)


# ----------------------------------------------------------------------------- bad input
def _log(**columns) -> pd.DataFrame:
    base = {"customer_id": [1, 2, 3], "date": ["2020-01-01", "2020-01-02", "2020-01-03"],
            "amount": [1.0, 2.0, 3.0]}
    base.update(columns)
    return pd.DataFrame(base)


BAD_INPUTS = {
    "missing customer": (_log(customer_id=[1, None, 3]), {}),
    "missing date": (_log(date=["2020-01-01", None, "2020-01-03"]), {}),
    "unparseable date": (_log(date=["2020-01-01", "2020-13-45", "2020-01-03"]),
                         {"date_format": "%Y-%m-%d"}),
    "numeric date without format": (_log(date=[20200101, 20200102, 20200103]), {}),
    "missing amount": (_log(amount=[1.0, np.nan, 3.0]), {}),
    "non-numeric amount": (_log(amount=["1", "two", "3"]), {}),
    "infinite amount": (_log(amount=[1.0, np.inf, 3.0]), {}),
    "negative amount": (_log(amount=[1.0, -2.0, 3.0]), {}),
    "misspelt column": (_log().rename(columns={"date": "Date"}), {}),
}


@pytest.mark.parametrize("source", ["frame", "parquet", "csv"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_the_pandas_engines_error(case, source, tmp_path):
    if source == "csv" and case == "numeric date without format":
        pytest.skip("a CSV file has no numbers: its dates are text, parsed as DuckDB reads them")
    log, options = BAD_INPUTS[case]
    transactions = log
    if source != "frame":
        transactions = tmp_path / f"log.{source}"
        if source == "parquet":
            log.to_parquet(transactions)
        else:
            log.to_csv(transactions, index=False)
            log = _read_like_the_cli(transactions)  # what the pandas engine gets from it
    with pytest.raises(ValidationError) as expected:
        rfm_summary(log, amount_col="amount", **options)
    with pytest.raises(ValidationError) as got:
        rfm_summary(transactions, amount_col="amount", engine="duckdb", **options)
    message = str(expected.value)
    if source != "frame":  # a file's column type is the file's (VARCHAR), not pandas' dtype
        message = message.replace(f"dtype {log['amount'].dtype})", "dtype VARCHAR)")
    assert str(got.value) == message


def test_empty_file_and_unknown_sources(tmp_path):
    empty = tmp_path / "empty.parquet"
    _log().iloc[:0].to_parquet(empty)
    with pytest.raises(ValidationError, match="the transaction table is empty"):
        rfm_summary(empty, engine="duckdb")
    with pytest.raises(FileNotFoundError, match="no such transaction file"):
        rfm_summary(tmp_path / "absent.parquet", engine="duckdb")
    (tmp_path / "log.xlsx").write_text("")
    with pytest.raises(ValueError, match=r"expected a \.csv .* or \.parquet file"):
        rfm_summary(tmp_path / "log.xlsx", engine="duckdb")
    with pytest.raises(ValidationError, match="engine='duckdb' expected a pandas DataFrame or"):
        rfm_summary([1, 2, 3], engine="duckdb")
    with pytest.raises(ValueError, match=r"unknown engine 'polars'; expected one of \('pandas'"):
        rfm_summary(_log(), engine="polars")


def test_string_dates_duckdb_cannot_parse_are_named(tmp_path):
    path = tmp_path / "log.csv"
    _log(date=["2020-01-01", "01/02/2020 junk", "2020-01-03"]).to_csv(path, index=False)
    with pytest.raises(ValidationError, match=r"column 'date': 1 row\(s\) invalid \(e\.g\. "
                       r"customer '2', value '01/02/2020 junk'\); expected dates DuckDB can parse"):
        rfm_summary(path, engine="duckdb")


def test_window_errors_match(cdnow):
    for engine in ("pandas", "duckdb"):
        with pytest.raises(ValueError, match="calibration_end .* before observation_end"):
            calibration_holdout(cdnow, calibration_end="1998-07-01", engine=engine)
        with pytest.raises(ValidationError, match="all 6919 transactions are after"):
            rfm_summary(cdnow, observation_end="1996-01-01", engine=engine)
        with pytest.raises(ValueError, match="has a time zone but the transaction dates do not"):
            rfm_summary(cdnow, observation_end=pd.Timestamp("1998-01-01", tz="UTC"),
                        engine=engine)


# ----------------------------------------------------------------------------- day/month order
def test_csv_dates_are_not_read_in_the_sniffers_order(tmp_path):
    """DuckDB's CSV sniffer read "01/02/2006" day first (and then ignored date_format): the
    engine parses the text itself, in date_format or as ISO only."""
    path = tmp_path / "log.csv"
    log = pd.DataFrame({"customer_id": [1, 1, 2], "date": ["01/02/2006", "10/03/2006",
                                                             "11/03/2006"]})
    log.to_csv(path, index=False)
    with pytest.raises(ValidationError, match=r"column 'date': 3 row\(s\) invalid \(e\.g\. "
                       r"customer '1', value '01/02/2006'\); expected dates DuckDB can parse "
                       r"\(pass date_format=\.\.\. for other layouts\)"):
        rfm_summary(path, engine="duckdb")
    for layout, recency in (("%m/%d/%Y", 274.0), ("%d/%m/%Y", 37.0)):
        reference = rfm_summary(_read_like_the_cli(path), time_unit="D", date_format=layout)
        ours = rfm_summary(path, time_unit="D", date_format=layout, engine="duckdb")
        assert_same_summary(ours, reference)
        assert ours.loc["1", "recency"] == recency


def test_iso_csv_dates_still_equal_pandas(tmp_path):
    path = tmp_path / "log.csv"
    log = _log(date=["2020-01-01", "2020-02-03", "2020-03-02"])
    log.to_csv(path, index=False)
    assert_same_summary(rfm_summary(path, amount_col="amount", engine="duckdb"),
                        rfm_summary(_read_like_the_cli(path), amount_col="amount"))


@pytest.mark.parametrize("bad", [
    {"log": _log(date=["01/02/2006", "10/03/2006", "11/03/2006"]), "options": {}},
    {"log": _log(customer_id=[1, "1", 2]), "options": {}},
    {"log": _log(), "options": {"observation_end": "02/03/2020"}},
    {"log": _log(), "options": {"calibration_end": "01/02/2020", "observation_end": "2020-01-03"}},
], ids=["ambiguous dates", "mixed id types", "ambiguous end", "ambiguous calibration end"])
def test_a_frame_gets_the_pandas_engines_refusal(bad):
    """A DataFrame goes through the pandas engine's checks (before, DuckDB merged 1 and "1")."""
    function = calibration_holdout if "calibration_end" in bad["options"] else rfm_summary
    with pytest.raises(ValidationError) as expected:
        function(bad["log"], **bad["options"])
    with pytest.raises(ValidationError) as got:
        function(bad["log"], engine="duckdb", **bad["options"])
    assert str(got.value) == str(expected.value)


# ----------------------------------------------------------------------------- files: ids as text
@pytest.mark.parametrize("ids", [
    ["1", "1.0", "1.00", "2"],
    ["12345678901234567890", "12345678901234567891", "1"],
    [str(2**53), str(2**53 + 1), "1"],
    ["00123", "123", "1"],
], ids=["decimals", "20 digits", "2**53 + 1", "leading zeros"])
def test_csv_ids_are_text_as_with_the_pandas_engine(ids, tmp_path):
    """DuckDB's sniffer typed the ids of a CSV file: 1, 1.0 and 1.00 were one customer,
    20-digit ids and 2**53 + 1 collided as floats."""
    rows = [f"{c},2020-01-{i + 1:02d},{i + 1}" for i, c in enumerate(ids)]
    path = tmp_path / "log.csv"
    path.write_text("\n".join(["customer_id,date,amount", *rows, "1,2020-02-01,0.5"]) + "\n")
    ours = rfm_summary(path, amount_col="amount", engine="duckdb")
    assert ours.index.tolist() == sorted(ids)
    assert ours.loc["1", "frequency"] == 1
    assert (ours.drop(index="1")["frequency"] == 0).all()
    assert_same_summary(ours, rfm_summary(_read_like_the_cli(path), amount_col="amount"))


# ----------------------------------------------------------------------------- far dates
FAR_LOG = pd.DataFrame({
    "customer_id": ["a", "b", "b", "c"],
    "date": pd.to_datetime(["1700-01-03", "1997-01-03", "2262-04-12", "1997-01-10"]),
    "amount": [1.0, 2.0, 3.0, 4.0],
})


def test_dates_outside_the_nanosecond_range_of_a_frame(tmp_path):
    """DuckDB got a DataFrame's dates as nanoseconds, which wrapped after 2262-04-11: customer
    b had recency 16,659 weeks and T 30,500 (pandas: 13,841 for both) and the wrong spend."""
    assert FAR_LOG["date"].dtype == "datetime64[us]"  # pandas' own unit for these dates
    reference = _quiet(rfm_summary, FAR_LOG, amount_col="amount")
    assert reference.loc["b", "recency"] == reference.loc["b", "T"] == 96888 / 7
    assert reference.loc["b", "monetary_value"] == 3.0
    assert_same_summary(_quiet(rfm_summary, FAR_LOG, amount_col="amount", engine="duckdb"),
                        reference)


@pytest.mark.parametrize("source", ["parquet", "csv"])
def test_dates_outside_the_nanosecond_range_of_a_file(source, tmp_path):
    """A date after 2262 in a file ended in a ConversionException (DuckDB counted
    nanoseconds); a log spanning more than 292 years is summarised like any other."""
    path = tmp_path / f"log.{source}"
    if source == "parquet":
        FAR_LOG.to_parquet(path)
        log = FAR_LOG
    else:
        FAR_LOG.to_csv(path, index=False)
        log = _read_like_the_cli(path)
    for options in ({}, {"observation_end": "2262-04-12"},
                    {"calibration_end": "1997-01-05", "observation_end": "2262-04-30"}):
        function = calibration_holdout if "calibration_end" in options else rfm_summary
        assert_same_summary(
            _quiet(function, path, amount_col="amount", engine="duckdb", **options),
            _quiet(function, log, amount_col="amount", **options),
        )


def test_a_year_pandas_cannot_read_is_refused_by_both_engines(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("customer_id,date\na,1997-01-03\nb,20000-01-01\n")
    with pytest.raises(ValidationError, match=r"customer 'b', value '20000-01-01'\); "
                       "expected dates pandas can parse"):
        rfm_summary(_read_like_the_cli(path))
    with pytest.raises(ValidationError, match=r"customer 'b', value '20000-01-01'\); "
                       "expected dates DuckDB can parse"):
        rfm_summary(path, engine="duckdb")


# ----------------------------------------------------------------------------- sums that overflow
OVERFLOW_LOG = pd.DataFrame({
    "customer_id": ["a", "a", "a", "b", "b", "c", "c", "c"],
    "date": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-01", "2020-01-05",
             "2020-01-01", "2020-01-06", "2020-01-07"],
    "amount": [1e308, 1e308, 1e308, 1.0, 2.0, 1.0, 1e308, 1e308],
})
OVERFLOW_MESSAGE = (
    "column 'amount': the amounts of {n} customer(s) (e.g. customer {c!r}) add up to more than "
    "the largest floating-point number (~1.80e+308), so their mean spend would be infinite"
)


def _overflow_input(log: pd.DataFrame, engine: str, source: str, path: Path) -> object:
    """``log`` as ``engine`` gets it from ``source`` (a file read as the CLI reads it)."""
    if source == "frame":
        return log
    getattr(log, f"to_{source}")(path, index=False)
    if engine == "duckdb":
        return path
    return _read_like_the_cli(path) if source == "csv" else pd.read_parquet(path)


@pytest.mark.parametrize("source", ["frame", "parquet", "csv"])
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_spend_sums_that_overflow_are_refused(engine, source, tmp_path):
    """Amounts of 1e308 gave monetary_value = inf (and the CLI exit 0)."""
    path = tmp_path / f"log.{source}"
    transactions = _overflow_input(OVERFLOW_LOG, engine, source, path)
    with pytest.raises(ValidationError, match=re.escape(OVERFLOW_MESSAGE.format(n=2, c="a"))):
        rfm_summary(transactions, amount_col="amount", engine=engine)
    # Customer c's holdout purchases overflow: the holdout mean is refused the same way.
    without_a = _overflow_input(OVERFLOW_LOG[OVERFLOW_LOG["customer_id"] != "a"], engine,
                                source, tmp_path / f"without_a.{source}")
    with pytest.raises(ValidationError, match=re.escape(OVERFLOW_MESSAGE.format(n=1, c="c"))):
        calibration_holdout(without_a, amount_col="amount", calibration_end="2020-01-05",
                            engine=engine)
    # One 1e308 amount per customer is a finite sum, summarised as before.
    single = _quiet(calibration_holdout, transactions, amount_col="amount", engine=engine,
                    calibration_end="2020-01-02", observation_end="2020-01-06")
    assert single.loc["a", "monetary_value"] == 1e308
    assert single.loc["c", "monetary_value_holdout"] == 1e308


def _summarize(*args: object) -> tuple[int, str]:
    """Run ``clvmodels summarize`` in a subprocess: its exit code and stderr."""
    result = subprocess.run([sys.executable, "-m", "clvmodels", "summarize", *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    return result.returncode, result.stderr


def _assert_one_line_error(code: int, stderr: str, expected_code: int, fragment: str) -> None:
    assert code == expected_code, (code, stderr)
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("clvmodels: error: ") and fragment in lines[-1], stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_the_cli_refuses_spend_that_overflows(engine, tmp_path):
    OVERFLOW_LOG.to_csv(tmp_path / "log.csv", index=False)
    code, stderr = _summarize(tmp_path / "log.csv", "--engine", engine, "-o",
                              tmp_path / "rfm.csv", "-q")
    _assert_one_line_error(code, stderr, 4, OVERFLOW_MESSAGE.format(n=2, c="a"))
    assert not (tmp_path / "rfm.csv").exists()


# ----------------------------------------------------------------------------- unreadable files
def _corrupt_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Damaged transaction files, each with the reason DuckDB gives (in the message)."""
    import gzip
    import struct

    log = load_cdnow_transactions()[["customer_id", "date", "amount"]]
    text = log.to_csv(index=False).encode()
    packed = gzip.compress(text)
    damaged = bytearray(packed)
    damaged[len(damaged) // 2:len(damaged) // 2 + 64] = bytes(64)
    log.to_parquet(folder / "good.parquet")
    parquet = (folder / "good.parquet").read_bytes()
    footer = struct.unpack("<I", parquet[-8:-4])[0]
    start = len(parquet) - 8 - footer
    scrambled = parquet[:start] + bytes(b ^ 0x5A for b in parquet[start:-8]) + parquet[-8:]
    files = {
        "truncated gzip": ("log.csv.gz", packed[:len(packed) // 2], "end of GZIP stream"),
        "corrupt gzip": ("bad.csv.gz", bytes(damaged), ""),
        "not gzip": ("plain.csv.gz", text, "not a GZIP stream"),
        "binary": ("binary.csv", np.random.default_rng(1).bytes(4096), ""),
        "latin-1": ("latin.csv", "customer_id,date\nJos\xe9,1997-01-01\n".encode("latin-1"),
                    "not utf-8 encoded"),
        "parquet footer": ("footer.parquet", scrambled, ""),
        "truncated parquet": ("short.parquet", parquet[:len(parquet) // 2], "magic bytes"),
    }
    paths = {}
    for case, (name, content, reason) in files.items():
        (folder / name).write_bytes(content)
        paths[case] = (folder / name, reason)
    return paths


@pytest.fixture(scope="module")
def corrupt_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _corrupt_files(tmp_path_factory.mktemp("corrupt"))


CORRUPT_CASES = ["truncated gzip", "corrupt gzip", "not gzip", "binary", "latin-1",
                 "parquet footer", "truncated parquet"]


@pytest.mark.parametrize("case", CORRUPT_CASES)
def test_unreadable_files_are_one_clear_error(case, corrupt_files):
    """DuckDB's own IOException, InvalidInputException or bare Error reached the caller (and
    the CLI's exit 1 with a traceback)."""
    path, reason = corrupt_files[case]
    kind = "Parquet" if path.suffix == ".parquet" else "CSV"
    with pytest.raises(ValidationError) as error:
        rfm_summary(path, amount_col="amount" if case != "latin-1" else None, engine="duckdb")
    message = str(error.value)
    assert message.startswith(f"transactions file {path} is not a readable {kind} file: ")
    assert reason in message and "\n" not in message


@pytest.mark.parametrize("case", ["truncated gzip", "latin-1", "parquet footer"])
def test_the_cli_reports_unreadable_files_in_one_line(case, corrupt_files, tmp_path):
    path, _ = corrupt_files[case]
    code, stderr = _summarize(path, "--engine", "duckdb", "--no-amount", "-o",
                              tmp_path / "rfm.csv", "-q")
    _assert_one_line_error(code, stderr, 4, "is not a readable")


def test_an_empty_file_is_an_empty_table(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ValidationError, match="the transaction table is empty"):
        rfm_summary(tmp_path / "empty.csv", engine="duckdb")


# ----------------------------------------------------------------------------- UTC offsets
def _both_engines(path: Path, **options) -> tuple[object, object]:
    """The pandas engine's result on the file read as the CLI reads it, and DuckDB's on the
    file: each a summary, or the error it raised."""
    results = []
    for engine, source in (("pandas", _read_like_the_cli(path)), ("duckdb", path)):
        try:
            results.append(rfm_summary(source, time_unit="D", engine=engine, **options))
        except (ValidationError, ValueError) as error:
            results.append(error)
    return results[0], results[1]


def _write_dates(path: Path, *dates: str) -> Path:
    customers = ["a", "b", "a", "b"][:len(dates)]
    path.write_text("customer_id,date\n" + "".join(f"{c},{d}\n" for c, d in zip(
        customers, dates, strict=True)))
    return path


OFFSET_LOGS = {
    "one offset": ["1997-01-01T00:30:00+01:00", "1997-03-01T12:00:00+01:00"],
    "utc": ["1997-01-01T00:30:00Z", "1997-03-01T12:00:00+00:00"],
    "daylight saving": ["1997-01-01T00:30:00+01:00", "1997-06-01T12:00:00+02:00",
                        "1997-06-01T23:30:00+02:00"],
    "mixed": ["1997-01-01T00:30:00+01:00", "1997-03-01T12:00:00"],
    "no offsets": ["1997-01-01T00:30:00", "1997-03-01T12:00:00"],
}


@pytest.mark.parametrize("timezone", [None, "UTC", "Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("case", list(OFFSET_LOGS))
def test_utc_offsets_follow_one_rule_in_both_engines(case, timezone, tmp_path):
    """pandas bucketed '1997-01-01T00:30:00+01:00' by its local day and DuckDB by the UTC day
    (T 8.43 vs 8.57 weeks); a mix of offset and plain dates was refused by pandas only, a
    daylight-saving export refused by pandas with its own 'Pass utc=True'."""
    path = _write_dates(tmp_path / "log.csv", *OFFSET_LOGS[case])
    reference, ours = _both_engines(path, timezone=timezone)
    if isinstance(reference, Exception):
        assert type(ours) is type(reference) and str(ours) == str(reference)
        refused = case == "mixed" or (case == "daylight saving" and timezone is None)
        assert refused and "UTC offset" in str(reference)
        return
    assert_same_summary(ours, reference)
    if case == "one offset" and timezone is None:  # the day as written: 1 January
        assert reference.loc["a", "T"] == 59.0 and reference.attrs["observation_end"] == (
            "1997-03-01T12:00:00+01:00")
    if case == "daylight saving" and timezone == "Europe/Paris":
        assert reference.loc["b", "frequency"] == 0  # both on 1 June, Paris time


def test_the_daylight_saving_refusal_asks_for_timezone(tmp_path):
    path = _write_dates(tmp_path / "log.csv", *OFFSET_LOGS["daylight saving"])
    with pytest.raises(ValidationError, match=re.escape(
            "column 'date': the dates carry 2 different UTC offsets (from +01:00 to +02:00), "
            "as a local-time export across a daylight-saving change does; pass timezone=... "
            "to count days on one clock (e.g. timezone='Europe/Paris'")):
        rfm_summary(path, engine="duckdb")
    with pytest.raises(ValidationError, match=re.escape(
            "column 'date': 1 row(s) have a UTC offset (e.g. +01:00) and 1 have none")):
        rfm_summary(_write_dates(tmp_path / "mixed.csv", *OFFSET_LOGS["mixed"]),
                    engine="duckdb", timezone="UTC")


@pytest.mark.parametrize("timezone", [None, "UTC", "Asia/Tokyo"])
def test_time_zone_aware_parquet_dates_are_read_as_pandas_reads_them(timezone, tmp_path):
    """DuckDB read a Parquet file's time-zone-aware dates on the UTC calendar; pandas on the
    zone the file records (here Europe/Paris: 23:30 on 1 March is 22:30 UTC)."""
    dates = pd.to_datetime(["2021-03-01 23:30", "2021-03-02 00:30", "2021-03-10 12:00"])
    log = pd.DataFrame({"customer_id": ["a", "a", "b"],
                        "date": dates.tz_localize("Europe/Paris"), "amount": [1.0, 2.0, 4.0]})
    log.to_parquet(tmp_path / "log.parquet")
    options = dict(amount_col="amount", time_unit="D", timezone=timezone)
    reference = rfm_summary(pd.read_parquet(tmp_path / "log.parquet"), **options)
    ours = rfm_summary(tmp_path / "log.parquet", engine="duckdb", **options)
    assert_same_summary(ours, reference)
    # In Paris two days; in UTC (22:30 and 23:30) and Tokyo (07:30 and 08:30) one.
    assert reference.loc["a", "frequency"] == (1 if timezone is None else 0)


def test_a_timezone_converts_aware_frames_and_end_dates():
    dates = pd.to_datetime(["2021-03-01 23:30", "2021-03-02 00:30", "2021-03-10 12:00"])
    aware = pd.DataFrame({"customer_id": [1, 1, 2], "date": dates.tz_localize("UTC")})
    end = pd.Timestamp("2021-03-20", tz="Europe/Paris")
    for engine in ("pandas", "duckdb"):
        assert rfm_summary(aware, time_unit="D", engine=engine).loc[1, "frequency"] == 1
        paris = rfm_summary(aware, time_unit="D", timezone="Europe/Paris", engine=engine,
                            observation_end=end)
        assert paris.loc[1, "frequency"] == 0  # 00:30 and 01:30 on 2 March in Paris
        assert paris.attrs["observation_end"] == "2021-03-20T00:00:00+01:00"
        # Naive dates are wall-clock times in the zone given: an end with a zone is read so.
        naive = rfm_summary(aware.assign(date=dates), time_unit="D", engine=engine,
                            timezone="Europe/Paris", observation_end=end)
        assert naive.attrs["observation_end"] == "2021-03-20T00:00:00"
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Pariss'"):
        rfm_summary(aware, timezone="Europe/Pariss")


def test_semicolon_delimited_files_are_refused_alike(tmp_path):
    """DuckDB's sniffer took ';' as the delimiter; the pandas engine's reader, like every
    clvmodels reader, reads commas: now both see one column and say so."""
    path = tmp_path / "log.csv"
    path.write_text("customer_id;date\na;1997-01-01\nb;1997-06-01\n")
    reference, ours = _both_engines(path)
    assert isinstance(reference, ValidationError) and str(ours) == str(reference)
    assert "the transactions have ['customer_id;date']" in str(ours)


def test_list_typed_parquet_ids_are_named_in_the_message(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    parquet.write_table(pyarrow.table({"customer_id": [[1, 2], [3]],
                                       "date": ["1997-01-01", "1997-01-02"]}),
                        tmp_path / "log.parquet")
    for engine, source in (("pandas", pd.read_parquet(tmp_path / "log.parquet")),
                           ("duckdb", tmp_path / "log.parquet")):
        with pytest.raises(ValidationError, match=r"column 'customer_id': customer ids of type "
                           r"(ndarray|BIGINT\[\] \(DuckDB's type of the column\))"):
            rfm_summary(source, engine=engine)


# ----------------------------------------------------------------------------- far-out dates
def _with_typos(cdnow: pd.DataFrame) -> pd.DataFrame:
    """CDNOW (1997-01-01 to 1998-06-30) with one purchase on 1700-01-01 (a new customer) and
    one on 2097-03-01 (customer 5 mistyped 1997)."""
    typos = pd.DataFrame({"customer_id": [99999, 5], "amount": [1.0, 2.0],
                          "date": pd.to_datetime(["1700-01-01", "2097-03-01"])})
    return pd.concat([cdnow[["customer_id", "date", "amount"]], typos], ignore_index=True)


FAR_WARNING = ("2 customer(s) have a purchase dated far outside the bulk of the log (which "
               "runs from 1997-01-02 to 1998-06-19): customer 5 on 2097-03-01, customer 99999 "
               "on 1700-01-01; check those dates (a mistyped year?)")


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_dates_far_outside_the_bulk_are_named_in_a_warning(engine, cdnow):
    """One mistyped date was accepted without a word (and a fit on it degenerated)."""
    with pytest.warns(UserWarning, match=re.escape(FAR_WARNING)) as record:
        rfm_summary(_with_typos(cdnow), amount_col="amount", engine=engine)
    assert record[0].filename == __file__
    # The holdout period's dates count too; the warning comes once.
    with pytest.warns(UserWarning) as record:
        calibration_holdout(_with_typos(cdnow), calibration_end="1997-09-30", engine=engine)
    assert [str(w.message) for w in record if "far outside" in str(w.message)] == [
        str(record[0].message)] and FAR_WARNING in str(record[0].message)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_an_ordinary_log_gets_no_far_dates_warning(engine, cdnow):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rfm_summary(cdnow, amount_col="amount", engine=engine)
        rfm_summary(cdnow, engine=engine, resolution="h", time_unit="D")
        # A few customers first seen a year before the rest: within the bulk's length.
        early = cdnow.assign(date=cdnow["date"].where(cdnow["customer_id"] > 5,
                                                      cdnow["date"] - pd.Timedelta(days=365)))
        rfm_summary(early, engine=engine)

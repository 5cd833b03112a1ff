"""Tests for clvmodels.validation: every error names the column, the count, an example and what
was expected."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodels.validation import ValidationError, check_rfm, check_transactions


def _transactions(**overrides: list[object]) -> pd.DataFrame:
    columns = {
        "customer_id": ["a", "b", "b", "c"],
        "date": ["2020-01-01", "2020-01-02", "2020-01-05", "2020-01-03"],
        "amount": [1.0, 2.5, 3.0, 4.0],
    }
    return pd.DataFrame({**columns, **overrides})


def _check(data: object, **kwargs: object) -> pd.Series:
    return check_transactions(
        data, customer_col="customer_id", date_col="date", amount_col="amount", **kwargs
    )


def _message(column: str, count: int, example: str, expected: str) -> str:
    """A regex for the standard message: column, row count, example and expectation."""
    return (
        re.escape(f"column '{column}': {count} row(s) invalid (e.g. {example}") + r".*"
        + re.escape(f"expected {expected}")
    )


# --- check_transactions ----------------------------------------------------------------------


def test_valid_transactions_return_parsed_dates() -> None:
    dates = _check(_transactions())
    assert pd.api.types.is_datetime64_dtype(dates)
    assert dates.tolist() == list(pd.to_datetime(_transactions()["date"]))


def test_datetime_columns_are_returned_as_they_are() -> None:
    data = _transactions(date=pd.date_range("2020-01-01", periods=4, tz="UTC"))
    assert _check(data).equals(data["date"])


def test_integer_dates_are_parsed_with_the_format() -> None:
    dates = _check(_transactions(date=[19970101, 19970102, 19970105, 19971231]),
                   date_format="%Y%m%d")
    assert dates.iloc[-1] == pd.Timestamp("1997-12-31")


def test_not_a_dataframe() -> None:
    with pytest.raises(ValidationError, match="expected a pandas DataFrame of transactions"):
        _check([("a", "2020-01-01", 1.0)])


def test_empty_transactions() -> None:
    with pytest.raises(ValidationError, match="empty; expected at least one purchase row"):
        _check(_transactions().iloc[:0])


def test_missing_column_lists_columns_and_suggests_close_names() -> None:
    data = _transactions().rename(columns={"date": "Date", "amount": "spend"})
    pattern = (r"missing column\(s\) 'date' \(did you mean 'Date'\?\), 'amount'; the transactions "
               r"have \['customer_id', 'Date', 'spend'\]")
    with pytest.raises(ValidationError, match=pattern):
        _check(data)


def test_missing_customer_id_names_the_row() -> None:
    with pytest.raises(ValidationError,
                       match=_message("customer_id", 1, "row 2", "a customer id on every row")):
        _check(_transactions(customer_id=["a", "b", None, "c"]))


def test_missing_dates() -> None:
    with pytest.raises(ValidationError,
                       match=_message("date", 2, "customer 'b'", "a purchase date on every row")):
        _check(_transactions(date=["2020-01-01", None, np.nan, "2020-01-03"]))


def test_unparseable_dates_show_the_raw_value_and_format() -> None:
    pattern = _message("date", 2, "customer 'b', value '2020-13-45'",
                       "dates in the format '%Y-%m-%d'")
    with pytest.raises(ValidationError, match=pattern):
        _check(_transactions(date=["2020-01-01", "2020-13-45", "soon", "2020-01-03"]),
               date_format="%Y-%m-%d")


def test_unparseable_dates_without_a_format() -> None:
    with pytest.raises(ValidationError, match=_message("date", 1, "customer 'c', value 'soon'",
                                                       "dates pandas can parse")):
        _check(_transactions(date=["2020-01-01", "2020-01-02", "2020-01-05", "soon"]))


def test_numeric_dates_need_a_format() -> None:
    pattern = _message("date", 4, "customer 'a', value 19970101", "dates; numbers need date_format")
    with pytest.raises(ValidationError, match=pattern):
        _check(_transactions(date=[19970101, 19970102, 19970105, 19971231]))


def test_missing_amounts() -> None:
    with pytest.raises(ValidationError,
                       match=_message("amount", 1, "customer 'c'", "a spend amount on every row")):
        _check(_transactions(amount=[1.0, 2.0, 3.0, None]))


def test_negative_amounts() -> None:
    pattern = _message("amount", 2, "customer 'b', value -2.5", "non-negative amounts")
    with pytest.raises(ValidationError, match=pattern):
        _check(_transactions(amount=[1.0, -2.5, -3.0, 4.0]))


def test_non_numeric_amounts() -> None:
    pattern = _message("amount", 1, "customer 'b', value 'free'", "numbers (the column has dtype")
    with pytest.raises(ValidationError, match=pattern):
        _check(_transactions(amount=[1.0, "free", 3.0, 4.0]))


def test_boolean_amounts_are_not_numbers() -> None:
    with pytest.raises(ValidationError, match=_message("amount", 4, "customer 'a', value True",
                                                       "numbers (the column has dtype bool)")):
        _check(_transactions(amount=[True, False, True, True]))


def test_infinite_amounts() -> None:
    with pytest.raises(ValidationError, match=_message("amount", 1, "customer 'c', value inf",
                                                       "finite amounts")):
        _check(_transactions(amount=[1.0, 2.0, 3.0, np.inf]))


def test_amount_column_is_optional() -> None:
    data = _transactions(amount=[None, "x", -1, np.inf])
    dates = check_transactions(data, customer_col="customer_id", date_col="date")
    assert len(dates) == 4


# --- check_rfm -------------------------------------------------------------------------------


def _rfm(**overrides: list[float]) -> pd.DataFrame:
    columns = {"frequency": [0, 2, 1], "recency": [0.0, 5.0, 3.0], "T": [10.0, 8.0, 3.0],
               "monetary_value": [0.0, 12.5, 3.0]}
    return pd.DataFrame({**columns, **overrides}, index=pd.Index([7, 8, 9], name="customer_id"))


def test_valid_rfm_passes() -> None:
    check_rfm(_rfm(), monetary_col="monetary_value")


def test_rfm_not_a_dataframe() -> None:
    with pytest.raises(ValidationError, match="expected a pandas DataFrame of RFM rows, got dict"):
        check_rfm({"frequency": [1]})


def test_rfm_missing_column() -> None:
    with pytest.raises(ValidationError, match=r"missing column\(s\) \['T'\]; the RFM table has"):
        check_rfm(_rfm().drop(columns="T"))


def test_rfm_empty() -> None:
    with pytest.raises(ValidationError, match="the RFM table is empty"):
        check_rfm(_rfm().iloc[:0])


def test_rfm_duplicate_ids() -> None:
    data = _rfm().set_axis(pd.Index([7, 8, 7], name="customer_id"))
    with pytest.raises(ValidationError, match=_message("index", 2, "customer 7",
                                                       "one row per customer id")):
        check_rfm(data)


def test_rfm_recency_after_T() -> None:
    with pytest.raises(ValidationError, match=_message("recency", 1, "customer 8", "recency <= T")):
        check_rfm(_rfm(recency=[0.0, 9.0, 3.0]))


def test_rfm_recency_without_repeat_purchases() -> None:
    pattern = _message("recency", 1, "customer 7", "recency == 0 for customers with frequency 0")
    with pytest.raises(ValidationError, match=pattern):
        check_rfm(_rfm(recency=[1.0, 5.0, 3.0]))


def test_rfm_non_integer_frequency() -> None:
    with pytest.raises(ValidationError, match=_message("frequency", 1, "customer 9",
                                                       "whole numbers")):
        check_rfm(_rfm(frequency=[0, 2, 1.5]))


def test_rfm_negative_frequency() -> None:
    with pytest.raises(ValidationError, match=_message("frequency", 1, "customer 9",
                                                       "non-negative repeat-purchase counts")):
        check_rfm(_rfm(frequency=[0, 2, -1]))


def test_rfm_non_finite() -> None:
    with pytest.raises(ValidationError, match=_message("T", 2, "customer 7",
                                                       "finite numbers (no NaN or inf)")):
        check_rfm(_rfm(T=[np.nan, np.inf, 3.0]))


def test_rfm_non_numeric() -> None:
    with pytest.raises(ValidationError, match="column 'T': expected numbers, got dtype"):
        check_rfm(_rfm(T=["10", "8", "3"]))


def test_rfm_negative_spend() -> None:
    with pytest.raises(ValidationError, match=_message("monetary_value", 1, "customer 8",
                                                       "non-negative spend")):
        check_rfm(_rfm(monetary_value=[0.0, -1.0, 3.0]), monetary_col="monetary_value")


def test_rfm_spend_columns_only() -> None:
    spend = _rfm().drop(columns=["recency", "T"])
    check_rfm(spend, recency_col=None, T_col=None, monetary_col="monetary_value")
    # A repeat buyer whose repeat purchases are all free is valid input: the spend models
    # leave such customers out of their fit (with a warning), they do not refuse the table.
    check_rfm(spend.assign(monetary_value=[0.0, 0.0, 3.0]), recency_col=None, T_col=None,
              monetary_col="monetary_value")
    with pytest.raises(ValidationError, match=_message("monetary_value", 1, "customer 8",
                                                       "non-negative spend")):
        check_rfm(spend.assign(monetary_value=[0.0, -0.5, 3.0]), recency_col=None, T_col=None,
                  monetary_col="monetary_value")


# --- day/month order of string dates ---------------------------------------------------------


def _dates(values: list[str], **kwargs: object) -> list[pd.Timestamp]:
    customers = [f"c{i}" for i in range(len(values))]
    return _check(pd.DataFrame({"customer_id": customers, "date": values,
                                "amount": 1.0}), **kwargs).tolist()


def test_dates_in_both_orders_are_refused_with_both_readings_and_formats() -> None:
    # The example: read month first, 01/02 -> 10/03 is 274 days instead of 37.
    pattern = re.escape(
        "column 'date': 2 row(s) with an ambiguous day/month order (e.g. customer 'c0', value "
        "'01/02/2006': 2006-01-02 month first or 2006-02-01 day first); every date parses "
        "with the day first and with the month first; pass date_format='%m/%d/%Y' (month "
        "first) or date_format='%d/%m/%Y' (day first)"
    )
    with pytest.raises(ValidationError, match=f"^{pattern}$"):
        _dates(["01/02/2006", "10/03/2006"])


def test_date_format_settles_the_order() -> None:
    assert _dates(["01/02/2006", "10/03/2006"], date_format="%d/%m/%Y") == [
        pd.Timestamp("2006-02-01"), pd.Timestamp("2006-03-10")]
    assert _dates(["01/02/2006", "10/03/2006"], date_format="%m/%d/%Y") == [
        pd.Timestamp("2006-01-02"), pd.Timestamp("2006-10-03")]


@pytest.mark.parametrize(("values", "expected"), [
    # A day over 12 anywhere in the column says the day comes first (pandas, inferring the
    # layout from the first value alone, read these month first and failed on 13/02/2006).
    (["01/02/2006", "13/02/2006", "10/03/2006"], ["2006-02-01", "2006-02-13", "2006-03-10"]),
    (["01.02.2006 10:30", "13.02.2006 08:00"], ["2006-02-01 10:30", "2006-02-13 08:00"]),
    # ... and one in the second place that the month comes first.
    (["01/02/2006", "02/13/2006"], ["2006-01-02", "2006-02-13"]),
    (["13/02/2006", "01/02/2006"], ["2006-02-13", "2006-02-01"]),
    # Days equal to months read alike in both orders: nothing to choose.
    (["01/01/2006", "02/02/2006"], ["2006-01-01", "2006-02-02"]),
    # The year first, or the month as a name, leaves no choice either.
    (["2006-01-02", "2006-03-10"], ["2006-01-02", "2006-03-10"]),
    (["2006/01/02 10:00", "2006/03/10 11:00"], ["2006-01-02 10:00", "2006-03-10 11:00"]),
    (["1 Feb 2006", "10 Mar 2006"], ["2006-02-01", "2006-03-10"]),
])
def test_an_order_the_values_decide_is_used(values: list[str], expected: list[str]) -> None:
    assert _dates(values) == [pd.Timestamp(v) for v in expected]


def test_values_read_one_by_one_are_refused_when_the_order_matters() -> None:
    # pandas infers no layout from "01/02/06" and would read each value with dateutil, month
    # first; the suggested layouts spell out the two-digit year and the time.
    with pytest.raises(ValidationError, match=re.escape(
        "(e.g. customer 'c0', value '01/02/06 10:00': 2006-01-02 10:00:00 month first or "
        "2006-02-01 10:00:00 day first); pandas infers no layout from the first value and would "
        "read each value on its own, month first; pass date_format='%m/%d/%y %H:%M' (month "
        "first) or date_format='%d/%m/%y %H:%M' (day first)")):
        _dates(["01/02/06 10:00", "13/02/06 11:00"])
    # Values each of which reads one way only are accepted.
    assert _dates(["13/02/06", "14/03/06"]) == [pd.Timestamp("2006-02-13"),
                                               pd.Timestamp("2006-03-14")]


def test_values_in_neither_order_name_one_that_does_not_parse() -> None:
    pattern = _message("date", 1, "customer 'c1', value '13/02/2006'",
                       "dates in one layout ('%m/%d/%Y' reads the most of them")
    with pytest.raises(ValidationError, match=pattern):
        _dates(["01/02/2006", "13/02/2006", "02/13/2006", "02/14/2006"])


@pytest.mark.parametrize("layout", ["%Y-%m-%d", "%d/%m/%Y"])
def test_each_distinct_date_is_parsed_once(monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    """A log has far fewer distinct dates than rows: only those are parsed (the check must not
    cost more than pandas' own parse of the column)."""
    parsed_lengths = []
    to_datetime = pd.to_datetime

    def counting(arg, *args, **kwargs):
        parsed_lengths.append(len(arg) if hasattr(arg, "__len__") and not isinstance(arg, str)
                              else 1)
        return to_datetime(arg, *args, **kwargs)

    days = pd.date_range("2006-01-01", periods=200, freq="D")
    values = np.tile(days.strftime(layout), 500)  # 100,000 rows, 200 distinct dates
    data = pd.DataFrame({"customer_id": np.arange(len(values)) % 97, "date": values})
    monkeypatch.setattr(pd, "to_datetime", counting)
    dates = check_transactions(data, customer_col="customer_id", date_col="date")
    # The first distinct values choose the order (in both orders at most), then all distinct
    # values are parsed in at most two: never the 100,000 rows.
    assert sum(parsed_lengths) <= 4 * len(days)
    assert (dates.to_numpy() == np.tile(days.to_numpy(), 500)).all()


def test_a_column_of_distinct_timestamps_follows_the_same_rule(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mostly distinct values are parsed without factorizing them first: the same readings,
    and the same refusal."""
    import clvmodels.validation

    monkeypatch.setattr(clvmodels.validation, "_DISTINCT_HEAD", 1000)  # not 100,000 rows
    rng = np.random.default_rng(3)
    seconds = rng.choice(365 * 86_400, size=3000, replace=False)
    truth = pd.Timestamp("2006-01-01") + pd.to_timedelta(np.sort(seconds), unit="s")
    values = truth.strftime("%d/%m/%Y %H:%M:%S")  # January first: days up to 12 at the start
    assert _dates(list(values)) == list(truth)
    early = truth[truth.day <= 12]
    n_ambiguous = int(np.count_nonzero(early.day != early.month))
    with pytest.raises(ValidationError, match=rf"{n_ambiguous} row\(s\) with an ambiguous"):
        _dates(list(early.strftime("%d/%m/%Y %H:%M:%S")))


_LAYOUTS = ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%m-%d-%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S",
            "%Y-%m-%d", "%Y/%m/%d %H:%M"]


@settings(max_examples=200, deadline=None)
@given(
    days=st.lists(st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                               max_value=pd.Timestamp("2030-12-31").to_pydatetime()),
                  min_size=1, max_size=12),
    layout=st.sampled_from(_LAYOUTS),
)
def test_dates_are_never_read_in_a_guessed_order(days: list, layout: str) -> None:
    """Whatever the dates and their layout: either the true dates come back, or the column is
    refused, exactly when nothing in it tells the day from the month."""
    truth = [pd.Timestamp(d).floor("s" if "%S" in layout else "min" if "%M" in layout else "D")
             for d in days]
    values = [t.strftime(layout) for t in truth]
    year_first = layout.startswith("%Y")
    undecided = all(t.day <= 12 for t in truth) and any(t.day != t.month for t in truth)
    if not year_first and undecided:
        with pytest.raises(ValidationError, match="ambiguous day/month order"):
            _dates(values)
    else:
        assert _dates(values) == truth


# --- customer ids of one type ----------------------------------------------------------------


def test_integer_and_string_ids_are_refused_naming_both() -> None:
    pattern = re.escape(
        "column 'customer_id': customer ids of more than one type (rows: 3 number, 1 str; e.g. "
        "1 (int) and '1' (str)); pandas tells ids apart by type and value, not by their text "
        "(1 and '1' would be two customers, True and 1 one); expected ids of one type: convert "
        "the column first, e.g. transactions['customer_id'] = "
        "transactions['customer_id'].astype(str)"
    )
    with pytest.raises(ValidationError, match=f"^{pattern}$"):
        _check(_transactions(customer_id=[1, 2, "1", np.int64(2)]))


@pytest.mark.parametrize(("ids", "example"), [
    (["a", "b", 3.5, "c"], "'a' (str) and 3.5 (float)"),
    ([1, True, 2, 2], "1 (int) and True (bool)"),  # pandas would merge True with 1
    (["1", b"1", "2", "2"], "'1' (str) and b'1' (bytes)"),
    (pd.Categorical([7, "7", 8, 8]), "7 (int) and '7' (str)"),
])
def test_other_mixtures_of_id_types_are_refused(ids: list, example: str) -> None:
    pattern = r"customer ids of more than one type \(.*e\.g\. " + re.escape(example)
    with pytest.raises(ValidationError, match=pattern):
        _check(_transactions(customer_id=ids))


def test_numbers_of_different_types_that_pandas_compares_by_value_are_one_kind() -> None:
    # 1, 1.0 and numpy's 1 are one customer to pandas: not a split, so not refused.
    data = _transactions(customer_id=pd.array([1, 1.0, np.int64(1), 2], dtype=object))
    assert len(_check(data)) == 4


def test_rfm_index_of_mixed_types_is_refused() -> None:
    data = _rfm().set_axis(pd.Index([7, "7", 9], name="customer_id"))
    with pytest.raises(ValidationError, match=re.escape(
            "column 'index': customer ids of more than one type (rows: 2 number, 1 str; e.g. 7 "
            "(int) and '7' (str))") + ".*" + re.escape("rfm.index = rfm.index.astype(str)")):
        check_rfm(data)
    # Converted as the message says, the two rows show up as the one customer they are.
    with pytest.raises(ValidationError, match="duplicate ids found"):
        check_rfm(data.set_axis(data.index.astype(str)))


_ID_FORMS = {"int": int, "float": float, "numpy": np.int64, "str": str}


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 30),
                               st.sampled_from(list(_ID_FORMS))), min_size=1, max_size=30))
def test_no_customer_is_split_or_merged(rows: list[tuple[int, int, str]]) -> None:
    """Ids in several forms either give the summary of the same ids in one form, or are
    refused (exactly when text is mixed with numbers)."""
    from clvmodels import rfm_summary

    ids, days, forms = zip(*rows, strict=True)
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(list(days), unit="D")
    mixed = pd.DataFrame({"customer_id": pd.array(
        [_ID_FORMS[form](i) for i, form in zip(ids, forms, strict=True)], dtype=object),
        "date": dates})
    as_text = "str" in forms
    one_type = pd.DataFrame({"customer_id": [str(i) if as_text else i for i in ids],
                             "date": dates})
    if as_text and set(forms) != {"str"}:
        with pytest.raises(ValidationError, match="customer ids of more than one type"):
            rfm_summary(mixed, time_unit="D")
        return
    summary, reference = rfm_summary(mixed, time_unit="D"), rfm_summary(one_type, time_unit="D")
    assert [str(int(float(i))) for i in summary.index] == [str(i) for i in reference.index]
    np.testing.assert_array_equal(summary.to_numpy(), reference.to_numpy())


# --- UTC offsets and ids that are not single values ------------------------------------------
_DAYLIGHT = ["2020-03-28T23:30:00+01:00", "2020-03-29T12:00:00+02:00",
             "2020-03-30T00:30:00+02:00", "2020-03-31T10:00:00+02:00"]


def test_dates_with_different_offsets_need_a_timezone() -> None:
    """pandas' own 'Mixed timezones detected. Pass utc=True' named no clvmodels option."""
    with pytest.raises(ValidationError, match=re.escape(
            "column 'date': the dates carry 2 different UTC offsets (from +01:00 to +02:00)")
            + ".*pass timezone=..."):
        _check(_transactions(date=_DAYLIGHT))
    dates = _check(_transactions(date=_DAYLIGHT), timezone="Europe/Paris")
    assert str(dates.dt.tz) == "Europe/Paris"
    # The local days of the export, whatever the offset of each.
    assert dates.dt.day.tolist() == [28, 29, 30, 31]
    assert dates.iloc[0] == pd.Timestamp("2020-03-28T22:30:00Z")


@pytest.mark.parametrize("dates", [
    ["2020-01-01T10:00:00+01:00", "2020-01-02", "2020-01-05", "2020-01-03T10:00:00"],
    ["2020-01-01T10:00:00", "2020-01-02T10:00:00+01:00", "2020-01-05T10:00:00+01:00",
     "2020-01-03T10:00:00+01:00"],
], ids=["first with an offset", "first without"])
def test_dates_with_and_without_an_offset_are_refused(dates: list[str]) -> None:
    n_with = sum("+" in d for d in dates)
    for timezone in (None, "UTC"):
        with pytest.raises(ValidationError, match=re.escape(
                f"column 'date': {n_with} row(s) have a UTC offset (e.g. +01:00) and "
                f"{4 - n_with} have none")):
            _check(_transactions(date=dates), timezone=timezone)


def test_one_offset_is_the_time_as_written_and_a_timezone_converts_it() -> None:
    dates = ["2020-01-01T23:30:00-05:00", "2020-01-02T10:00:00-05:00",
             "2020-01-05T10:00:00-05:00", "2020-01-03T10:00:00-05:00"]
    assert _check(_transactions(date=dates)).dt.day.tolist() == [1, 2, 5, 3]
    assert _check(_transactions(date=dates), timezone="UTC").dt.day.tolist() == [2, 2, 5, 3]


def test_list_ids_are_refused_naming_the_column() -> None:
    """A Parquet list column read by pandas: factorize's 'unhashable type' named no column."""
    ids = pd.Series([np.array([1, 2]), np.array([3]), np.array([3]), np.array([4])],
                    dtype=object)
    with pytest.raises(ValidationError, match=re.escape(
            "column 'customer_id': customer ids of type ndarray (e.g. row 0, value "
            "array([1, 2])); expected one id per row, text or a number")):
        _check(_transactions(customer_id=ids))

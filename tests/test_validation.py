"""Tests for clvmodels.validation: every error names the column, the count, an example and what
was expected."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

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

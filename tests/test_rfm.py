"""Tests for clvmodels.rfm: the published CDNOW summary, conventions, units and invariants."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from clvmodels.datasets import _data_dir, load_cdnow_summary, load_cdnow_transactions
from clvmodels.rfm import calibration_holdout, rfm_summary
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError

CDNOW_CALIBRATION_END = "1997-09-30"
DAY0 = pd.Timestamp("2020-01-01")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow_transactions()


def _calibration_summary(cdnow: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    """rfm_summary of the CDNOW sample over the published 39-week calibration period."""
    with pytest.warns(UserWarning, match="after observation_end"):
        return rfm_summary(
            cdnow, amount_col="amount", observation_end=CDNOW_CALIBRATION_END, **kwargs
        )


def _log(rows: list[tuple[object, float, float]]) -> pd.DataFrame:
    """A transaction log from (customer, days after DAY0, amount) rows."""
    customers, days, amounts = zip(*rows, strict=True)
    return pd.DataFrame({
        "customer_id": list(customers),
        "date": DAY0 + pd.to_timedelta(list(days), unit="D"),
        "amount": list(amounts),
    })


def test_reproduces_published_cdnow_summary(cdnow: pd.DataFrame) -> None:
    summary = _calibration_summary(cdnow)
    published = load_cdnow_summary()
    assert len(summary) == len(published) == 2357
    assert summary.index.equals(published.index)
    assert summary.index.name == "customer_id"
    assert summary["frequency"].dtype == np.int64
    np.testing.assert_array_equal(summary["frequency"], published["frequency"])
    # The published file rounds weeks to 2 decimals: T is (1997-09-30 - first purchase day) / 7,
    # e.g. 272 days = 38.857 weeks -> 38.86 for customers who first bought on 1997-01-01.
    np.testing.assert_array_equal(summary["recency"].round(2), published["recency"])
    np.testing.assert_array_equal(summary["T"].round(2), published["T"])
    assert summary.loc[1, "T"] == 272 / 7
    # ... and spend to cents (the last digit may round either way).
    np.testing.assert_allclose(summary["monetary_value"], published["monetary_value"], rtol=0,
                               atol=0.005 + 1e-9)
    assert summary.attrs == {
        "time_unit": "W",
        "observation_end": "1997-09-30T00:00:00",
        "n_transactions": 6919 - 1959,  # the rows up to the observation end
        "n_transactions_excluded": 1959,
        "n_customers_excluded": 0,
    }


def test_integer_dates_from_the_raw_file(cdnow: pd.DataFrame) -> None:
    raw = pd.read_csv(_data_dir() / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "customer_id", "date", "cds", "amount"])
    assert raw["date"].dtype == np.int64
    with pytest.warns(UserWarning):
        from_raw = rfm_summary(raw, amount_col="amount", observation_end=19970930,
                               date_format="%Y%m%d")
    assert_frame_equal(from_raw, _calibration_summary(cdnow))


def test_calibration_holdout_on_cdnow(cdnow: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is excluded, so nothing to warn about
        split = calibration_holdout(cdnow, amount_col="amount",
                                    calibration_end=CDNOW_CALIBRATION_END,
                                    observation_end="1998-06-30")
    assert int(split["frequency_holdout"].sum()) == 1882
    # 1997-10-01 .. 1998-06-30 is 273 days: exactly 39 weeks.
    assert (split["duration_holdout"] == 39.0).all()
    calibration = _calibration_summary(cdnow)
    assert_frame_equal(split[calibration.columns], calibration)
    assert list(split.columns) == [
        "frequency", "recency", "T", "monetary_value",
        "frequency_holdout", "monetary_value_holdout", "duration_holdout",
    ]
    assert split.loc[1, "monetary_value_holdout"] == 26.48  # one purchase on 1997-12-12
    assert split.attrs["calibration_end"] == "1997-09-30T00:00:00"
    assert split.attrs["observation_end"] == "1998-06-30T00:00:00"
    assert split.attrs["n_transactions"] == 6919  # calibration and holdout rows
    assert split.attrs["n_customers_excluded"] == 0


def test_calibration_holdout_defaults_and_cohort() -> None:
    log = _log([("a", 0, 1.0), ("a", 4, 2.0), ("a", 12, 3.0), ("a", 12, 4.0), ("a", 30, 5.0),
                ("b", 8, 1.0), ("c", 20, 9.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # leaving out late first buyers is the definition
        split = calibration_holdout(log, amount_col="amount", calibration_end=DAY0 +
                                    pd.Timedelta(days=10), time_unit="D")
    assert list(split.index) == ["a", "b"]
    assert split.attrs["n_customers_excluded"] == 1  # c first buys in the holdout period
    assert split.attrs["observation_end"] == (DAY0 + pd.Timedelta(days=30)).isoformat()
    assert split.loc["a", "frequency_holdout"] == 2  # days 12 and 30
    assert split.loc["a", "monetary_value_holdout"] == 6.0  # (3 + 4 + 5) / 2 days
    assert split.loc["b", "frequency_holdout"] == 0
    assert split.loc["b", "monetary_value_holdout"] == 0.0
    assert (split["duration_holdout"] == 20.0).all()


def test_calibration_holdout_rejects_bad_windows() -> None:
    log = _log([("a", 5, 1.0), ("a", 9, 1.0)])
    with pytest.raises(ValueError, match="calibration_end .* before observation_end"):
        calibration_holdout(log, calibration_end=DAY0 + pd.Timedelta(days=9))
    with pytest.raises(ValidationError, match="no purchase on or before calibration_end"):
        calibration_holdout(log, calibration_end=DAY0)


def test_transactions_after_observation_end_are_counted_and_warned_about() -> None:
    log = _log([("a", 0, 1.0), ("a", 5, 2.0), ("a", 20, 4.0), ("b", 15, 8.0), ("c", 10, 1.0)])
    with pytest.warns(UserWarning, match=r"2 transaction\(s\) .* 1 customer\(s\)"):
        summary = rfm_summary(log, amount_col="amount", observation_end="2020-01-11",
                              time_unit="D")
    assert list(summary.index) == ["a", "c"]
    assert summary.attrs["n_transactions_excluded"] == 2
    assert summary.attrs["n_transactions"] == 3
    assert summary.attrs["n_customers_excluded"] == 1
    assert summary.loc["a"].tolist() == [1, 5.0, 10.0, 2.0]
    # A purchase on the observation end day itself is kept, with recency == T.
    assert summary.loc["c"].tolist() == [0, 0.0, 0.0, 0.0]


def test_observation_end_defaults_to_last_purchase_without_warning() -> None:
    log = _log([("a", 0, 1.0), ("b", 3.5, 1.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = rfm_summary(log, time_unit="D")
    assert summary.attrs["observation_end"] == (DAY0 + pd.Timedelta(days=3.5)).isoformat()
    assert summary["T"].tolist() == [3.0, 0.0]
    assert summary.attrs["n_transactions_excluded"] == 0


def test_attrs_are_json_safe_and_survive_parquet(cdnow: pd.DataFrame, tmp_path) -> None:
    """pandas writes attrs into Parquet as JSON: a Timestamp there made to_parquet fail."""
    pytest.importorskip("pyarrow")
    summary = _calibration_summary(cdnow)
    split = calibration_holdout(cdnow, amount_col="amount", calibration_end=CDNOW_CALIBRATION_END)
    for name, table in (("summary", summary), ("split", split)):
        assert json.loads(json.dumps(table.attrs)) == table.attrs
        table.to_parquet(tmp_path / f"{name}.parquet")
        back = pd.read_parquet(tmp_path / f"{name}.parquet")
        assert back.attrs == table.attrs
        assert_frame_equal(back, table)
    assert pd.Timestamp(split.attrs["calibration_end"]) == pd.Timestamp(CDNOW_CALIBRATION_END)


def test_time_zone_aware_ends_round_trip_through_attrs() -> None:
    log = _log([("a", 0, 1.0), ("a", 5, 2.0), ("b", 3, 1.0)])
    log["date"] = log["date"].dt.tz_localize("Europe/Berlin")
    end = pd.Timestamp("2020-01-05 23:00", tz="Europe/Berlin")
    with pytest.warns(UserWarning, match="1 transaction"):
        summary = rfm_summary(log, observation_end=end, time_unit="D")
    assert summary.attrs["observation_end"] == "2020-01-05T23:00:00+01:00"
    assert pd.Timestamp(summary.attrs["observation_end"]) == end  # the same instant


def test_observation_end_before_every_purchase_is_rejected() -> None:
    with pytest.raises(ValidationError, match="all 2 transactions are after observation_end"):
        rfm_summary(_log([("a", 5, 1.0), ("b", 6, 1.0)]), observation_end="2019-12-31")


def test_numeric_observation_end_needs_a_date_format() -> None:
    with pytest.raises(TypeError, match="date_format"):
        rfm_summary(_log([("a", 5, 1.0)]), observation_end=20200110)


@pytest.mark.parametrize("unit", ["D", "W", "M", "Y", "h"])
def test_time_units_are_conversions_of_days(cdnow: pd.DataFrame, unit: str) -> None:
    in_days = _calibration_summary(cdnow, time_unit="D")
    in_unit = _calibration_summary(cdnow, time_unit=unit)
    assert in_unit.attrs["time_unit"] == unit
    for column in ("recency", "T"):
        # Two or three correctly rounded operations on the same integers: a few ulps apart.
        np.testing.assert_allclose(in_unit[column], in_days[column] / TimeUnit.parse(unit).days,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("alias", "code"),
    [("days", "D"), ("Day", "D"), ("d", "D"), ("weeks", "W"), ("w", "W"), ("Month", "M"),
     ("m", "M"), ("months", "M"), ("YEARS", "Y"), ("y", "Y"), ("hours", "h"), ("H", "h")],
)
def test_time_unit_aliases(alias: str, code: str) -> None:
    assert TimeUnit.parse(alias) == code


@pytest.mark.parametrize("unit", ["minutes", "fortnight", "", 7])
def test_unknown_time_unit_lists_the_valid_ones(unit: object) -> None:
    with pytest.raises(ValueError, match=r"unknown time unit .*'D' \(days\).*'Y' \(years\)"):
        rfm_summary(_log([("a", 0, 1.0)]), time_unit=unit)


def test_resolution_must_be_days_or_hours() -> None:
    with pytest.raises(ValueError, match="unsupported resolution 'W'"):
        rfm_summary(_log([("a", 0, 1.0)]), resolution="weeks")


def test_same_day_purchases_count_once_with_amounts_summed() -> None:
    log = _log([(1, 0, 10.0), (1, 3.25, 5.0), (1, 3.75, 7.0), (1, 3.5, 1.0), (2, 1, 4.0),
                (2, 1.5, 6.0)])
    summary = rfm_summary(log, amount_col="amount", time_unit="D")
    assert summary["frequency"].tolist() == [1, 0]
    assert summary.loc[1, "monetary_value"] == 13.0
    assert summary.loc[2, "monetary_value"] == 0.0
    assert summary["recency"].tolist() == [3.0, 0.0]


def test_hour_resolution_separates_purchases_within_a_day() -> None:
    log = _log([("a", 0.25, 1.0), ("a", 0.5, 2.0), ("a", 0.52, 4.0)])
    by_day = rfm_summary(log, amount_col="amount", time_unit="h")
    by_hour = rfm_summary(log, amount_col="amount", time_unit="h", resolution="hour")
    assert by_day.loc["a"].tolist() == [0, 0.0, 0.0, 0.0]
    assert by_hour.loc["a"].tolist() == [1, 6.0, 6.0, 6.0]


def test_monetary_value_leaves_out_the_first_purchase_day() -> None:
    log = _log([("a", 0, 100.0), ("a", 0, 50.0), ("a", 2, 10.0), ("a", 9, 20.0)])
    summary = rfm_summary(log, amount_col="amount")
    assert summary.loc["a", "monetary_value"] == 15.0
    assert summary.loc["a", "frequency"] == 2


def test_local_calendar_of_time_zone_aware_dates() -> None:
    # 23:30 in New York is already the next day in UTC: it must still count as the local day.
    dates = pd.to_datetime(["2020-01-01 08:00", "2020-01-01 23:30", "2020-01-03 12:00"])
    log = pd.DataFrame({"customer_id": "a", "date": dates.tz_localize("America/New_York")})
    summary = rfm_summary(log, time_unit="D", observation_end=pd.Timestamp("2020-01-06 03:00",
                                                                            tz="UTC"))
    assert summary.loc["a"].tolist() == [1, 2.0, 4.0]
    with pytest.raises(ValueError, match="time zone"):
        rfm_summary(log.assign(date=dates), observation_end=pd.Timestamp("2020-01-06", tz="UTC"))


def test_agrees_with_lifetimes(cdnow: pd.DataFrame) -> None:
    utils = pytest.importorskip("lifetimes.utils")
    theirs = utils.summary_data_from_transaction_data(
        cdnow, "customer_id", "date", monetary_value_col="amount",
        observation_period_end=CDNOW_CALIBRATION_END, freq="D",
    )
    ours = _calibration_summary(cdnow, time_unit="D")
    assert ours.index.equals(theirs.index)
    for column in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(ours[column], theirs[column])
    # lifetimes also leaves the first purchase day out of the mean by default. It adds a
    # customer's (at most 56) amounts in another order: 2 * 55 * 2**-53 = 1.2e-14 apart.
    np.testing.assert_allclose(ours["monetary_value"], theirs["monetary_value"], rtol=1e-12)


_CENTS = st.integers(0, 100_000).map(lambda cents: cents / 100)
_ROWS = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 100), _CENTS),
    min_size=1,
    max_size=40,
)


def _reference_summary(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    """The summary in days computed the slow, obvious way."""
    end = max(day for _, day, _ in rows)
    records = {}
    for customer in sorted({c for c, _, _ in rows}):
        spend_by_day: dict[int, float] = {}
        for c, day, amount in rows:
            if c == customer:
                spend_by_day[day] = spend_by_day.get(day, 0.0) + amount
        days = sorted(spend_by_day)
        repeat = [spend_by_day[d] for d in days[1:]]
        records[customer] = (len(days) - 1, float(days[-1] - days[0]), float(end - days[0]),
                             sum(repeat) / len(repeat) if repeat else 0.0)
    return pd.DataFrame.from_dict(records, orient="index",
                                  columns=["frequency", "recency", "T", "monetary_value"])


@settings(max_examples=150, deadline=None)
@given(rows=_ROWS, data=st.data())
def test_properties_on_random_logs(rows: list[tuple[int, int, float]], data: st.DataObject) -> None:
    log = _log(rows)
    summary = rfm_summary(log, amount_col="amount", time_unit="D")
    expected = _reference_summary(rows)
    assert summary.index.tolist() == expected.index.tolist()
    distinct_days = log.groupby("customer_id")["date"].nunique()
    np.testing.assert_array_equal(summary["frequency"], distinct_days - 1)
    np.testing.assert_array_equal(summary[["recency", "T"]], expected[["recency", "T"]])
    # Means of at most 40 amounts summed in another order: 2 * 39 * 2**-53 = 9e-15 apart.
    np.testing.assert_allclose(summary["monetary_value"], expected["monetary_value"], rtol=1e-12)
    assert ((summary["recency"] >= 0) & (summary["recency"] <= summary["T"])).all()
    order = data.draw(st.permutations(range(len(log))))
    shuffled = rfm_summary(log.iloc[list(order)], amount_col="amount", time_unit="D")
    assert_frame_equal(shuffled, summary, check_exact=False, rtol=1e-12)


def _string_log(dates: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["a"] * len(dates), "date": dates})


def test_issue_example_is_refused_or_read_as_the_format_says() -> None:
    log = _string_log(["01/02/2006", "10/03/2006"])
    with pytest.raises(ValidationError, match=r"ambiguous day/month order .* pass "
                       r"date_format='%m/%d/%Y' \(month first\) or date_format='%d/%m/%Y'"):
        rfm_summary(log, time_unit="D")
    assert rfm_summary(log, time_unit="D", date_format="%d/%m/%Y")["recency"].iloc[0] == 37.0
    assert rfm_summary(log, time_unit="D", date_format="%m/%d/%Y")["recency"].iloc[0] == 274.0


@pytest.mark.parametrize("argument", ["observation_end", "calibration_end"])
def test_an_end_date_in_either_order_is_refused(argument: str) -> None:
    log = _log([("a", 0, 1.0), ("a", 100, 1.0)])  # 2020-01-01 to 2020-04-10
    ends = {"observation_end": "2020-04-10", "calibration_end": "2020-02-01", argument:
            "02/03/2020"}
    pattern = re.escape(
        f"{argument} '02/03/2020' has an ambiguous day/month order: it reads 2020-02-03 month "
        "first or 2020-03-02 day first; pass it as an ISO date (YYYY-MM-DD), or pass "
        "date_format='%m/%d/%Y' (month first) or date_format='%d/%m/%Y' (day first)"
    )
    with pytest.raises(ValidationError, match=f"^{pattern}$"):
        calibration_holdout(log, time_unit="D", **ends)
    if argument == "observation_end":
        with pytest.raises(ValidationError, match=f"^{pattern}$"):
            rfm_summary(log, time_unit="D", observation_end="02/03/2020")


def test_end_dates_that_read_one_way_or_match_the_format_are_used() -> None:
    log = _log([("a", 0, 1.0), ("a", 10, 1.0)])
    # 13 cannot be a month; ISO is year first; the data's layout says which is which.
    for end in ("13/01/2020", "2020-01-13"):
        assert rfm_summary(log, time_unit="D", observation_end=end)["T"].iloc[0] == 12.0
    text = _string_log(["01/01/2020", "11/01/2020"])
    summary = rfm_summary(text, time_unit="D", date_format="%d/%m/%Y", observation_end="02/03/2020")
    assert summary.attrs["observation_end"] == "2020-03-02T00:00:00"
    # An end date not in the data's layout falls back to ISO, and then has to be unambiguous.
    with pytest.raises(ValidationError, match=r"'02/03/2020' \(not in date_format '%Y%m%d'\) "
                       "has an ambiguous day/month order"):
        rfm_summary(_log([("a", 0, 1.0)]), date_format="%Y%m%d", observation_end="02/03/2020")

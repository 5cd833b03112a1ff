"""contract_summary: subscription log -> renewals and churn per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import ShiftedBetaGeoModel, ValidationError, contract_summary

LOG = pd.DataFrame({
    "customer": ["a", "b", "c", "c", "d", "e"],
    "start": ["2020-01-01", "2020-01-31", "2020-03-01", "2020-06-01", "2021-01-15",
              "2020-01-01"],
    "end": ["2020-04-01", "2020-03-01", "2020-06-01", "", None, "2020-04-15"],
})


def _summary(log=LOG, **kwargs):
    return contract_summary(log, "customer", "start", "end", "2021-06-30", **kwargs)


def test_renewals_and_churn_of_a_small_log():
    """a: renewed Feb 1 and Mar 1, cancelled effective Apr 1 (a renewal date: not renewed);
    b: Jan 31 renews on the last day of February (Feb 29), not on Mar 31; c: two touching
    terms are one active subscription, renewed on the first of every month to Jun 1 2021;
    d: active, Feb 15 .. Jun 15; e: left mid-period after renewing Apr 1."""
    table = _summary()
    assert table["renewals"].to_dict() == {"a": 2, "b": 1, "c": 15, "d": 5, "e": 3}
    assert table["churned"].to_dict() == {"a": True, "b": True, "c": False, "d": False,
                                          "e": True}
    assert table.loc["c", "start"] == pd.Timestamp("2020-03-01") and pd.isna(table.loc["c",
                                                                                       "end"])
    assert table["cohort"].tolist() == ["2020-01", "2020-01", "2020-03", "2021-01", "2020-01"]
    assert table.attrs == {"observation_end": "2021-06-30T00:00:00", "time_unit": "M"}
    weekly = _summary(period="W")
    assert weekly.loc["a", "renewals"] == 12  # 91 days: weeks 1..12 before Apr 1, 13 on it
    assert _summary(period="Y")["renewals"].tolist() == [0, 0, 1, 0, 0]


def test_monthly_renewals_against_pandas_date_offsets():
    """Random subscriptions counted one by one with pandas' DateOffset (the independent
    route: k months after the start, while before the end / on or before the log's end)."""
    rng = np.random.default_rng(0)
    n = 300
    start = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    length = pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    end = pd.Series(start + length)
    end_of_log = pd.Timestamp("2021-12-31")
    end[(end > end_of_log) | (rng.uniform(size=n) < 0.3)] = pd.NaT
    log = pd.DataFrame({"customer": np.arange(n), "start": start, "end": end})
    table = contract_summary(log, "customer", "start", "end", end_of_log)

    def count(first: pd.Timestamp, last: pd.Timestamp, strictly: bool) -> int:
        k = 0
        while True:
            renewal = first + pd.DateOffset(months=k + 1)
            if renewal > last or (strictly and renewal == last):
                return k
            k += 1

    expected = [count(s, e if pd.notna(e) else end_of_log, pd.notna(e))
                for s, e in zip(log["start"], log["end"], strict=True)]
    assert table["renewals"].tolist() == expected
    assert table["churned"].tolist() == log["end"].notna().tolist()


@pytest.mark.parametrize(("change", "message"), [
    ({"end": ["2019-04-01", "2020-03-01", "2020-06-01", "", None, "2020-04-15"]},
     r"customer 'a', row 0\): the end \('end'\) is before the start"),
    ({"start": ["2020-01-01", "2020-01-31", "2020-03-01", "2020-05-01", "2021-01-15",
                "2020-01-01"]}, r"customer 'c', row 3\): it overlaps"),
    ({"start": ["2020-01-01", "2020-01-31", "2020-03-01", "2020-07-01", "2021-01-15",
                "2020-01-01"]}, r"customer 'c', row 3\): the customer came back after a gap"),
    ({"start": ["2020-01-01", "2020-01-31", "2020-03-01", "2020-06-01", "2021-07-15",
                "2020-01-01"]}, r"customer 'd', row 4\): column 'start' is after the "
                                r"observation end 2021-06-30"),
    ({"end": ["2020-04-01", "2020-03-01", "2020-06-01", "", None, "2021-08-15"]},
     r"customer 'e', row 5\): column 'end' is after the observation end"),
    ({"start": ["2020-01-01", "2020-01-31", "2020-03-01", "2020-06-01", "soon",
                "2020-01-01"]}, r"column 'start'.*customer 'd', value 'soon'"),
    ({"end": ["2020-04-01", "2020-03-01", "2020-06-01", "", None, "15th April"]},
     r"column 'end'.*customer 'e', value '15th April'"),
    ({"start": ["2020-01-01", None, "2020-03-01", "2020-06-01", "2021-01-15",
                "2020-01-01"]}, r"customer 'b', row 1\): column 'start' is empty"),
])
def test_invalid_logs_are_refused_naming_the_customer_and_row(change, message):
    with pytest.raises(ValidationError, match=message):
        _summary(LOG.assign(**change))


def test_missing_columns_and_an_ambiguous_observation_end_are_refused():
    with pytest.raises(ValidationError, match=r"missing column\(s\) \['stop'\]"):
        contract_summary(LOG, "customer", "start", "stop", "2021-06-30")
    with pytest.raises(ValidationError, match="ambiguous day/month order"):
        contract_summary(LOG, "customer", "start", "end", "03/04/2021")


def test_the_summary_fits_a_contractual_model():
    """Monthly subscriptions simulated from an sBG, written as a log and summarised back:
    the same renewals and churn as simulated, so the same fit."""
    truth = ShiftedBetaGeoModel().set_params_({"alpha": 0.9, "beta": 3.0}, time_unit="M")
    simulated = truth.simulate(2_000, 24, random_state=1)
    start = pd.Timestamp("2020-01-01")
    end = [start + pd.DateOffset(months=int(n) + 1) if gone else pd.NaT
           for n, gone in zip(simulated["renewals"], simulated["churned"], strict=True)]
    log = pd.DataFrame({"customer": simulated.index, "start": start, "end": end})
    table = contract_summary(log, "customer", "start", "end", "2022-01-01")
    pd.testing.assert_series_equal(table["renewals"], simulated["renewals"],
                                   check_index_type=False, check_names=False)
    pd.testing.assert_series_equal(table["churned"], simulated["churned"],
                                   check_index_type=False, check_names=False)

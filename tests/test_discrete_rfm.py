"""The discrete-time summary of a transaction log (discrete_rfm_summary) for the BG/BB."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import (
    BetaGeoBetaBinomModel,
    ValidationError,
    discrete_rfm_summary,
    load_donations,
)


def _log() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [1, 1, 1, 1, 2, 2, 3],
        "date": pd.to_datetime(["2020-03-01", "2020-12-31", "2021-05-01", "2021-06-01",
                                "2021-02-02", "2023-01-01", "2023-07-01"]),
        "amount": [10.0, 5.0, 7.0, 3.0, 4.0, 8.0, 1.0],
    })


def test_a_hand_worked_log_in_years():
    # Customer 1: first in 2020 (its second 2020 purchase is the same period), two in 2021
    # (one period), then nothing to 2023: one repeat period, the last one period after the
    # first, three opportunities (2021-2023); its repeat spend is 2021's 7 + 3. Customer 2:
    # 2021, then 2023. Customer 3: first seen in the last period, no opportunity yet.
    summary = discrete_rfm_summary(_log(), amount_col="amount", observation_end="2023-12-31")
    expected = pd.DataFrame({"frequency": [1, 1, 0], "recency": [1, 2, 0],
                             "periods": [3, 2, 0], "monetary_value": [10.0, 8.0, 0.0]},
                            index=pd.Index([1, 2, 3], name="customer_id"))
    pd.testing.assert_frame_equal(summary, expected)
    assert summary.attrs["time_unit"] == "Y"
    assert summary.attrs["n_transactions"] == 7


def test_months_and_monday_weeks():
    monthly = discrete_rfm_summary(_log(), period="M")  # ends on the last date, 2023-07-01
    assert monthly.loc[1].tolist() == [3, 15, 40]  # 2020-12, 2021-05, 2021-06 after 2020-03
    assert monthly.attrs["time_unit"] == "M"
    # 2024-01-01 is a Monday, 2024-01-07 the Sunday of its week and 2024-01-08 the next
    # Monday: one repeat week; the end, Sunday 2024-01-21, is in the second week after.
    log = pd.DataFrame({"customer_id": ["a", "a", "a"],
                        "date": pd.to_datetime(["2024-01-01", "2024-01-07", "2024-01-08"])})
    weekly = discrete_rfm_summary(log, period="W", observation_end="2024-01-21")
    assert weekly.loc["a"].tolist() == [1, 1, 2]


def test_transactions_after_the_end_are_left_out_with_a_warning():
    with pytest.warns(UserWarning, match="1 transaction.*after observation_end"):
        summary = discrete_rfm_summary(_log(), observation_end="2023-06-30")
    assert list(summary.index) == [1, 2]
    assert summary.attrs["n_transactions_excluded"] == 1
    assert summary.attrs["n_customers_excluded"] == 1


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValidationError, match="date"):
        discrete_rfm_summary(_log().assign(date=["2020-01-01"] * 6 + ["not a date"]))
    with pytest.raises(ValidationError, match="customer_id"):
        discrete_rfm_summary(_log().drop(columns="customer_id"))
    with pytest.raises(ValueError, match="unsupported period 'h'"):
        discrete_rfm_summary(_log(), period="h")
    summary = discrete_rfm_summary(_log(), observation_end="2023-12-31")
    with pytest.raises(ValidationError, match=r"column 'periods'.*customer 3.*periods > 0"):
        BetaGeoBetaBinomModel().fit(summary)


def _donations_log() -> pd.DataFrame:
    """One donor per person of the donations data: a first donation in 1995 and, for a
    pattern (x, t_x), donations in 1995 + t_x and the x - 1 years just before it."""
    rows = []
    donor = 0
    for x, t_x, _, weight in load_donations().itertuples(index=False):
        years = [1995] + list(range(1995 + t_x - x + 1, 1995 + t_x + 1)) if x else [1995]
        for _ in range(weight):
            rows += [(donor, f"{year}-06-15") for year in years]
            donor += 1
    return pd.DataFrame(rows, columns=["customer_id", "date"])


def test_the_donations_patterns_and_their_fit():
    summary = discrete_rfm_summary(_donations_log(), observation_end="2001-12-31")
    counts = summary.value_counts(["frequency", "recency", "periods"]).rename("weights")
    donations = load_donations().set_index(["frequency", "recency", "periods"])["weights"]
    pd.testing.assert_series_equal(counts.sort_index(), donations.sort_index(),
                                   check_names=False)
    # One row per donor fits the same maximum as the weighted patterns (the same distinct
    # rows): the optimiser's own stopping tolerance, far below the printed decimals.
    fitted = BetaGeoBetaBinomModel().fit(summary)
    weighted = BetaGeoBetaBinomModel().fit(load_donations(),
                                           weights=load_donations()["weights"])
    np.testing.assert_allclose(fitted.params_, weighted.params_, rtol=1e-6)
    assert fitted.log_likelihood_ == pytest.approx(weighted.log_likelihood_, rel=1e-12)

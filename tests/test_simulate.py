"""The synthetic transaction logs of the benchmarks (clvmodels._simulate) follow the models."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clvmodels import BetaGeoModel, GammaGammaModel, rfm_summary
from clvmodels._simulate import simulate_transactions

START = pd.Timestamp("2022-01-01")
PURCHASES = {"r": 0.8, "alpha": 20.0, "a": 1.2, "b": 6.0}
SPEND = {"p": 6.0, "q": 4.0, "gamma": 60.0}


def _log(n: int, seed: int = 1) -> pd.DataFrame:
    return simulate_transactions(
        BetaGeoModel().set_params_(PURCHASES, time_unit="D"), GammaGammaModel().set_params_(SPEND),
        n, start=START, acquisition_days=90, observation_days=365,
        rng=np.random.default_rng(seed), first_id=1000,
    )


def test_log_layout():
    log = _log(2000)
    assert list(log.columns) == ["customer_id", "date", "amount"]
    assert log["customer_id"].nunique() == 2000
    assert log["customer_id"].min() == 1000
    first = log.groupby("customer_id")["date"].min()
    assert first.min() >= START and first.max() < START + pd.Timedelta(days=90)
    assert log["date"].max() < START + pd.Timedelta(days=365)
    assert (log["amount"] >= 0.01).all()
    assert np.array_equal(log["amount"], log["amount"].round(2))


def test_fits_recover_the_parameters_that_drew_the_log():
    """20,000 customers: the BG/NBD and Gamma-Gamma fits of the summarised log land within
    four standard errors of the truth (purchases an hour apart are rare at these rates, so
    bucketing by hour changes almost nothing)."""
    summary = rfm_summary(_log(20_000), amount_col="amount", resolution="h", time_unit="D",
                          observation_end=START + pd.Timedelta(days=365) - pd.Timedelta(hours=1))
    for model, truth in ((BetaGeoModel(), PURCHASES), (GammaGammaModel(), SPEND)):
        table = model.fit(summary).summary()
        z = (table["estimate"] - pd.Series(truth)) / table["std_error"]
        assert (z.abs() < 4).all(), table

"""Long statistical checks of the Bayesian models (``pytest -m slow``): calibration of the credible
intervals over repeated simulated fits, and the Pareto/NBD posterior on CDNOW (whose likelihood
gradient runs in NumPy, minutes of sampling)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")

from clvmodels import (  # noqa: E402
    BayesianBetaGeoModel,
    BayesianGammaGammaModel,
    BayesianParetoNBDModel,
    BetaGeoModel,
    GammaGammaModel,
)

pytestmark = pytest.mark.slow

TRUTH = {
    BayesianBetaGeoModel: {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    BayesianGammaGammaModel: {"p": 6.25, "q": 3.74, "gamma": 15.44},
}
SEEDS = range(10)


def _simulated(seed: int):
    rng = np.random.default_rng(seed)
    T = 39.0 + rng.integers(0, 12, 3000)
    data = BetaGeoModel().set_params_(TRUTH[BayesianBetaGeoModel], time_unit="W").simulate(
        len(T), T, random_state=rng)
    spend = GammaGammaModel().set_params_(TRUTH[BayesianGammaGammaModel]).simulate(
        data["frequency"], rng)
    data["monetary_value"] = spend.to_numpy()
    return data


def test_credible_intervals_cover_the_truth_at_their_level():
    """90% intervals of every parameter over 10 simulated data sets of 3,000 customers.

    70 intervals (10 fits x (4 + 3) parameters). Were they independent the covered share would
    have sd sqrt(0.9 * 0.1 / 70) = 0.036; intervals of one fit are correlated (r with alpha, a
    with b), and treating each fit's intervals as one perfectly correlated unit gives the
    conservative sd sqrt(0.09 * (10 * 4**2 + 10 * 3**2)) / 70 = 0.068. The share must lie
    within 3 of those conservative sds of 0.9 (from 0.70 up).
    """
    covered = []
    for seed in SEEDS:
        data = _simulated(seed)
        for model_class, truth in TRUTH.items():
            model = model_class().fit(data, draws=500, tune=500, chains=2, random_seed=seed)
            draws = model.posterior_parameters()
            lower, upper = draws.quantile(0.05), draws.quantile(0.95)
            for name, value in truth.items():
                covered.append(bool(lower[name] <= value <= upper[name]))
    share = float(np.mean(covered))
    print(f"\ncoverage of the 90% credible intervals: {share:.3f} over {len(covered)}")
    assert 0.70 <= share <= 1.0


def test_pareto_nbd_cdnow_posterior_agrees_with_the_published_mle(cdnow):
    model = BayesianParetoNBDModel().fit(cdnow, random_seed=2026)
    summary = model.summary()
    published = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
    for name, value in published.items():
        assert abs(summary.loc[name, "mean"] - value) <= 2 * summary.loc[name, "sd"], name
    assert (summary["r_hat"] <= 1.01).all(), summary
    assert int(model.idata.sample_stats["diverging"].sum()) == 0

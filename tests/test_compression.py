"""Compressed fitting: every MLE model fits the distinct rows of its input with weights, in
cache-sized blocks, and the result is the fit on every customer.

Tolerances: the compressed and the row-per-customer objectives are the same sum grouped
differently (each row's value is computed by the same operations), so they agree to rounding:
a sum of n terms of one sign in any order is within (n - 1) * 2**-53 of exact, 4.4e-13 relative
for the 4,000 rows here (1e-12 asked). Their gradients are sums of terms of both signs, so the
bound is relative to the sum of the terms' magnitudes, at most 7 times each component at the
points compared here (measured): 7 * 4,000 * 2**-53 = 3e-12 (1e-11 asked, with a floor for
components near 0 of 1e-12, the bound on terms of mean magnitude ~1). Fits that see
the same objective up to rounding stop at the same maximum up to the optimiser's stopping
rules: compared by tests/_tolerances.py's ``assert_same_maximum`` (log-likelihoods to their
stopping gaps, ~1e-8 here; parameters to ~2e-4 of their standard errors). Identical compressed
data give bit-identical fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _fitting import fit_data_of, objective_of
from _tolerances import Maximum, assert_same_maximum, stopping_gap

import clvmodels.estimation.fitdata as fitdata
from clvmodels import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel
from clvmodels.estimation.fitdata import FitData
from clvmodels.estimation.optimise import maximise

MODELS = [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, GammaGammaModel]


@pytest.fixture(scope="module")
def day_summary() -> pd.DataFrame:
    """4,000 customers simulated at whole days over 20 cohorts (they share rows), with spend."""
    rng = np.random.default_rng(11)
    T = rng.integers(40, 60, 4000).astype(float)
    data = BetaGeoModel().set_params_({"r": 1.0, "alpha": 8.0, "a": 1.2, "b": 5.0}).simulate(
        4000, T, random_state=rng)
    data["recency"] = np.floor(data["recency"])
    data["monetary_value"] = GammaGammaModel().set_params_(
        {"p": 6.0, "q": 4.0, "gamma": 100.0}).simulate(data["frequency"], random_state=rng)
    data["monetary_value"] = data["monetary_value"].round(0)  # shared spend values too
    data.attrs["time_unit"] = "D"
    return data


def _data(model_class, day_summary: pd.DataFrame) -> pd.DataFrame:
    """Pareto/NBD's gradient costs seven evaluations of a likelihood with hypergeometric
    functions, so its fits are slow: it gets the first 600 customers."""
    return day_summary.iloc[:600] if model_class is ParetoNBDModel else day_summary


def _uncompressed(model, data: pd.DataFrame) -> FitData:
    return fit_data_of(model, data, compress=False)


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_compressed_objective_equals_the_row_per_customer_one(model_class, day_summary):
    model = model_class()
    full = _uncompressed(model, day_summary)
    compressed = FitData.compress(full.columns, full.weights)
    assert compressed.n_rows < 0.8 * full.n_rows  # the data do compress
    assert compressed.weights.sum() == full.n_rows
    start = np.log(model.family.initial_params(compressed))
    for shift in (0.0, 0.3, -0.5):
        value, gradient = objective_of(model, compressed)(start + shift)
        expected_value, expected_gradient = objective_of(model, full)(start + shift)
        assert value == pytest.approx(expected_value, rel=1e-12)
        if gradient is not None:  # the models with an analytic gradient
            np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_compressed_fit_equals_the_fit_of_every_row(model_class, day_summary):
    data = _data(model_class, day_summary)
    model = model_class()
    full = _uncompressed(model, data)
    uncompressed = maximise(objective_of(model, full), model.family.initial_params(full),
                            model_class.__name__)
    log_likelihood = -full.n_rows * objective_of(model, full)(np.log(uncompressed))[0]
    fitted = model_class().fit(data)
    assert fitted.n_distinct_rows_ < full.n_rows
    assert_same_maximum(fitted, Maximum(uncompressed, log_likelihood,
                                        stopping_gap(log_likelihood, full.n_rows, full.n_rows)))


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_shuffled_duplicates_fit_like_weights(model_class, day_summary):
    """Each customer three times over, shuffled, against the table with weight 3."""
    rng = np.random.default_rng(0)
    data = _data(model_class, day_summary)
    tripled = pd.concat([data] * 3, ignore_index=True).iloc[rng.permutation(3 * len(data))]
    tripled.attrs = data.attrs
    weighted = model_class().fit(data, weights=np.full(len(data), 3.0))
    duplicated = model_class().fit(tripled)
    assert_same_maximum(duplicated, weighted)
    assert duplicated.n_customers_ == weighted.n_customers_ == 3 * duplicated.n_customers_ / 3
    # BG/NBD, MBG/NBD and Gamma-Gamma have analytic Hessians: their standard errors agree as
    # closely as the maxima. The Pareto/NBD's are central differences (h = 1e-3) of a gradient
    # that is itself accurate to ~1e-8 relative (its r and s partials are central differences
    # of the dropout integral): ~1e-8 / h + h**2 ~ 1e-5 per entry, amplified in the standard
    # errors of the 0.999-correlated s and beta (the two maxima are 2e-4 standard errors apart
    # besides): 5e-3.
    np.testing.assert_allclose(duplicated.summary()["std_error"], weighted.summary()["std_error"],
                               rtol=5e-3)


def test_repeated_rows_in_order_give_a_bit_identical_fit(day_summary):
    """Rows repeated in place compress to exactly the distinct table with its counts."""
    repeated = day_summary.loc[day_summary.index.repeat(2)].reset_index(drop=True)
    repeated.attrs = day_summary.attrs
    counts = day_summary.assign(count=2)
    a = BetaGeoModel().fit(repeated)
    b = BetaGeoModel().fit(counts, weights=counts["count"])
    assert a.params_.equals(b.params_)
    assert a.log_likelihood_ == b.log_likelihood_


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_block_evaluation_equals_one_pass(model_class, day_summary, monkeypatch):
    model = model_class()
    fit_data = fit_data_of(model, day_summary)
    start = np.log(model.family.initial_params(fit_data))
    one_pass = objective_of(model, fit_data)(start)
    monkeypatch.setattr(fitdata, "BLOCK_ROWS", 97)
    blocked = FitData(fit_data.columns, fit_data.weights)  # a fresh cache of blocks
    assert len(blocked.blocks()) == -(-fit_data.n_rows // 97)
    value, gradient = objective_of(model, blocked)(start)
    # The same rows in another grouping: the sums' rounding bounds (see the module docstring),
    # 2.8e-13 relative for the value and 2e-12 for the gradient over ~2,600 distinct rows.
    assert value == pytest.approx(one_pass[0], rel=1e-12)
    if gradient is not None:
        np.testing.assert_allclose(gradient, one_pass[1], rtol=1e-11, atol=1e-14)

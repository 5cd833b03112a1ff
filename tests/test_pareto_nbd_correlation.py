"""The Pareto/NBD with Sarmanov-correlated purchase and dropout rates: its likelihood against
the plain model and a double integral, the gradient, recovery of a positive and a negative
correlation, predictions against simulated holdout purchases, covariates, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _apparel import apparel_table
from _covariate_helpers import covariate_objective, difference_gradient
from scipy import stats

from clvmodels import ParetoNBDModel, ValidationError
from clvmodels.estimation.fitdata import FitData
from clvmodels.evaluate import likelihood_ratio_test
from clvmodels.models.pareto_nbd_correlation import (
    PARETO_NBD_CORRELATION,
    ParetoNBDCorrelationModel,
    correlation,
    correlation_range,
    kappa_for,
    laplace_transforms,
    omega_bounds,
    omega_of,
    sample_rates,
)

FAMILY = PARETO_NBD_CORRELATION
# Marginals on a time unit in which the Sarmanov family reaches correlations of -0.20 to 0.15
# (its reach shrinks as 1 / ((alpha + 1)(beta + 1))).
MARGINALS = {"r": 1.0, "alpha": 0.5, "s": 0.8, "beta": 1.0}
HISTORY = FitData({"x": np.array([0.0, 1, 3, 7]), "t_x": np.array([0.0, 2, 10, 20]),
                   "T": np.array([5.0, 10, 30, 25]), "unit": np.ones(4)}, np.ones(4))


def _params(cor: float, marginals: dict = MARGINALS) -> tuple:
    return (*marginals.values(), kappa_for(*marginals.values(), cor))


def _simulated(cor: float, n: int, seed: int, holdout: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    T = rng.uniform(2, 6, n)
    x, t_x, x_holdout = FAMILY.simulate(_params(cor), T, holdout, rng)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T, "holdout": x_holdout})


def test_omega_zero_gives_the_pareto_nbd_likelihood():
    marginals = (0.8, 3.0, 0.6, 5.0)
    lo, hi = omega_bounds(*laplace_transforms(*marginals))
    params = (*marginals, -lo / hi)  # the position of omega = 0
    assert omega_of(params) == pytest.approx(0.0, abs=1e-15)
    # Weights (1, 0, 0, 0) of the same Pareto/NBD terms: equal to rounding.
    assert np.allclose(FAMILY.log_likelihood(params, HISTORY),
                       ParetoNBDModel.family.log_likelihood(marginals, HISTORY),
                       rtol=1e-14, atol=0)


def _tensor_gauss_legendre(function, lo: np.ndarray, hi: np.ndarray, nodes: int) -> float:
    """The integral of ``function(u, v)`` over the box [lo, hi] by the tensor product of
    Gauss-Legendre rules of ``nodes`` points per axis."""
    points, weights = np.polynomial.legendre.leggauss(nodes)
    half = (hi - lo) / 2
    u, v = (lo[k] + half[k] * (points + 1) for k in range(2))
    return float(half.prod() * weights @ function(u[:, None], v[None, :]) @ weights)


@pytest.mark.parametrize("kappa", [0.2, 3.0])
def test_likelihood_is_the_double_integral_over_the_sarmanov_density(kappa):
    r, alpha, s, beta = 0.8, 3.0, 0.6, 5.0
    params = (r, alpha, s, beta, kappa)
    omega = omega_of(params)
    first, second = laplace_transforms(r, alpha, s, beta)
    values = FAMILY.log_likelihood(params, HISTORY)
    # In log rates (u = log lambda, v = log mu) the integrand is smooth and falls off
    # doubly exponentially at both ends; the box holds all but ~1e-15 of the gamma mass.
    lo = np.log([stats.gamma.ppf(1e-15, r, scale=1 / alpha),
                 stats.gamma.ppf(1e-15, s, scale=1 / beta)])
    hi = np.log([stats.gamma.isf(1e-15, r, scale=1 / alpha),
                 stats.gamma.isf(1e-15, s, scale=1 / beta)])
    for row in range(4):
        x, t_x, T = (HISTORY[name][row] for name in ("x", "t_x", "T"))

        def integrand(u, v, x=x, t_x=t_x, T=T):
            lam, mu = np.exp(u), np.exp(v)
            # The Pareto/NBD's likelihood given the rates: alive at T, or gone in (t_x, T].
            given = lam**x * (np.exp(-(lam + mu) * T) + mu / (lam + mu) * (
                np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * T)))
            density = (stats.gamma.pdf(lam, r, scale=1 / alpha) * lam
                       * stats.gamma.pdf(mu, s, scale=1 / beta) * mu
                       * (1 + omega * (np.exp(-lam) - first) * (np.exp(-mu) - second)))
            return given * density

        coarse, fine = (_tensor_gauss_legendre(integrand, lo, hi, nodes)
                        for nodes in (200, 400))
        # The rules converge geometrically on this analytic integrand: the difference of
        # 200 and 400 nodes bounds the coarse one's error, and 1e-10 relative (1e-10 in the
        # log) is far above rounding (~1e-13 for 1.6e5 terms) and the box's 1e-15.
        assert abs(coarse - fine) < 1e-10 * fine
        assert values[row] == pytest.approx(np.log(fine), abs=1e-10)


def test_gradient_matches_finite_differences():
    params = np.array([0.8, 3.0, 0.6, 5.0, 0.7])
    rows, gradient = FAMILY.log_likelihood_gradient(tuple(params), HISTORY)
    # The same terms combined in another order (the components' totals, not u and v).
    assert np.allclose(rows, FAMILY.log_likelihood(tuple(params), HISTORY), rtol=1e-13)
    numeric = []
    for j in range(len(params)):
        step = np.zeros(len(params))
        step[j] = 1e-6 * params[j]
        numeric.append((FAMILY.log_likelihood(tuple(params + step), HISTORY)
                        - FAMILY.log_likelihood(tuple(params - step), HISTORY)) / (2 * step[j]))
    # Central differences with relative step 1e-6: truncation ~1e-12 |LL'''| and rounding
    # ~1e-16 |LL| / 1e-6 (|LL| ~ 20: 2e-9); the Pareto/NBD's per-row gradient takes the
    # dropout integral from quadrature (~1e-8 relative): 1e-6 relative covers them.
    assert np.allclose(gradient, np.array(numeric), rtol=1e-6, atol=1e-6)


def test_gradient_with_covariates_matches_finite_differences():
    table = _simulated(0.1, 300, 2)
    rng = np.random.default_rng(1)
    table["income"] = rng.normal(0, 1, len(table))
    table["premium"] = (rng.random(len(table)) < 0.5) * 1.0
    model = ParetoNBDCorrelationModel(purchase_covariates=["income"],
                                      dropout_covariates=["premium", "income"])
    _, _, _, objective = covariate_objective(model, table)
    phi = np.concatenate([np.log(_params(0.1)), [0.3, -0.4, 0.2]])
    _, gradient = objective.log_likelihood(phi)
    numeric = difference_gradient(objective, phi, h=1e-5)
    # As in tests/test_covariates.py: truncation h^2 |LL'''|, rounding 1e-16 |LL| / h and
    # the quadrature's ~1e-8 are below 1e-5 of the largest component.
    assert np.allclose(gradient, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())


@pytest.mark.parametrize("cor", [0.14, -0.19])
def test_sampled_rates_have_the_gamma_marginals_and_the_correlation(cor):
    lam, mu = sample_rates(_params(cor), (200_000,), np.random.default_rng(6))
    # Kolmogorov-Smirnov against each gamma marginal (the Sarmanov factor integrates to 1
    # along either rate): p above 1e-4 unless the marginals are wrong.
    assert stats.kstest(lam, stats.gamma(1.0, scale=1 / 0.5).cdf).pvalue > 1e-4
    assert stats.kstest(mu, stats.gamma(0.8, scale=1 / 1.0).cdf).pvalue > 1e-4
    # The sample correlation's standard error here is ~0.9 / sqrt(n) = 0.002 (its spread
    # over 20 seeds); 0.01 is five of them.
    assert np.corrcoef(lam, mu)[0, 1] == pytest.approx(cor, abs=0.01)
    assert np.sign(np.corrcoef(lam, mu)[0, 1]) == np.sign(cor)


@pytest.mark.parametrize("cor", [0.12, -0.15])
def test_simulation_recovers_the_correlation(cor):
    table = _simulated(cor, 4000, 3)
    fitted = ParetoNBDCorrelationModel().fit(table)
    summary = fitted.summary()
    assert list(summary.index) == ["r", "alpha", "s", "beta", "kappa", "cor"]
    truth = pd.Series({**MARGINALS, "cor": cor})
    error = ((summary["estimate"] - truth) / summary["std_error"]).dropna()
    # Consistent estimates with their standard errors: all five within 4 se (probability
    # > 0.999 for approximately normal errors).
    assert np.all(np.abs(error) < 4), error
    assert fitted.correlation_ == pytest.approx(summary.loc["cor", "estimate"])
    assert np.sign(fitted.correlation_) == np.sign(cor)
    row = summary.loc["cor"]
    # The Wald interval, cut to the correlations reachable at the estimated marginals.
    lowest, highest = correlation_range(*fitted.params_[["r", "alpha", "s", "beta"]])
    assert row["lower_95%"] == pytest.approx(
        max(row["estimate"] - 1.959964 * row["std_error"], lowest))
    assert row["upper_95%"] == pytest.approx(
        min(row["estimate"] + 1.959964 * row["std_error"], highest))
    # The plain Pareto/NBD is the model at omega = 0: the correlated fit is at least as good,
    # and the likelihood-ratio test of the correlation (one degree of freedom) rejects it.
    plain = ParetoNBDModel().fit(table)
    assert fitted.log_likelihood_ > plain.log_likelihood_
    test = likelihood_ratio_test(plain, fitted)
    assert test.df == 1 and test.p_value < 0.01
    with pytest.raises(ValidationError, match="different families"):
        likelihood_ratio_test(fitted, plain)
    # The fit ran on rescaled times with the kernel's unit rescaled alike: its likelihood is
    # that of the data in their own unit (to summation rounding).
    assert fitted.log_likelihood(table) == pytest.approx(fitted.log_likelihood_, rel=1e-12)


@pytest.mark.parametrize("cor", [0.12, -0.18])
def test_conditional_expectations_match_simulated_holdout_purchases(cor):
    # E[X(T, T + 3) | history] under the true parameters: the sum over customers of the
    # errors holdout - prediction has mean 0 and standard deviation sqrt(sum of squared
    # errors) (independent customers); the plain Pareto/NBD with the same marginals misses.
    table = _simulated(cor, 40000, 5, holdout=3.0)
    truth = {**MARGINALS, "cor": cor}
    correlated = ParetoNBDCorrelationModel().set_params_(truth)
    plain = ParetoNBDModel().set_params_(MARGINALS)
    observed = table["holdout"].to_numpy()
    for model, expect_close in ((correlated, True), (plain, False)):
        predicted = model.expected_purchases(table, 3.0).to_numpy()
        z = (observed - predicted).sum() / np.sqrt(((observed - predicted) ** 2).sum())
        # Within 4 standard deviations (probability 0.99994 under the model).
        assert (abs(z) < 4) == expect_close, (model, z)
    # P(no purchase in the holdout | history), which holds P(alive): the number of customers
    # without one is a sum of independent Bernoulli variables with these probabilities.
    none = correlated.probability_of_purchases(table, 0, 3.0).to_numpy()
    z = ((observed == 0).sum() - none.sum()) / np.sqrt((none * (1 - none)).sum())
    assert abs(z) < 4, z


def test_predictions_are_consistent_with_each_other():
    model = ParetoNBDCorrelationModel().set_params_({**MARGINALS, "cor": -0.15})
    table = _simulated(-0.15, 200, 8)
    expected = model.expected_purchases(table, 3.0)
    # The discounted purchases integrate the purchase rate: at a negligible discount rate over
    # a horizon of 3 they are E[X(3)] (the quadrature's error ~1e-10 relative).
    discounted = model.discounted_expected_purchases(table, horizon=3.0, discount_rate=1e-12)
    assert np.allclose(discounted, expected, rtol=1e-8)
    # The count distribution sums to 1 and has mean E[X(3)] (truncated where its tail is
    # below 1e-12).
    counts = np.arange(150)
    pmf = np.array([model.probability_of_purchases(table, n, 3.0).to_numpy() for n in counts])
    assert np.allclose(pmf.sum(axis=0), 1.0, atol=1e-9)
    assert np.allclose(counts @ pmf, expected, rtol=1e-7)
    # P(alive) in (0, 1], and a new customer's expectation is the signed mixture of the
    # Pareto/NBD's at the prior weights.
    alive = model.probability_alive(table)
    assert ((alive > 0) & (alive <= 1)).all()
    rng = np.random.default_rng(4)
    _, _, purchases = FAMILY.simulate(_params(-0.15), np.full(200000, 1e-12), 3.0, rng)
    # The simulated mean is within 4 standard errors of the expectation.
    assert abs(model.expected_purchases_new_customer(3.0) - purchases.mean()) < 4 * (
        purchases.std() / np.sqrt(len(purchases)))


def test_covariates_with_correlation():
    rng = np.random.default_rng(12)
    table = _simulated(0.1, 1500, 12)
    table["premium"] = (rng.random(len(table)) < 0.5) * 1.0
    fitted = ParetoNBDCorrelationModel(purchase_covariates=["premium"],
                                       dropout_covariates=["premium"]).fit(table)
    summary = fitted.summary()
    assert list(summary.index) == ["r", "alpha", "s", "beta", "kappa", "purchase.premium",
                                   "dropout.premium", "cor"]
    assert np.isfinite(summary.loc["cor", "std_error"])
    # A customer's predictions are those of the model at their own alpha and beta.
    per_customer = fitted.customer_parameters(table)
    alive = fitted.probability_alive(table)
    expected = fitted.expected_purchases(table, 3.0)
    for position in (0, 5, 77):
        own = ParetoNBDCorrelationModel().set_params_(
            {name: per_customer[name][position] if name in per_customer
             else fitted.params_[name] for name in fitted.param_names})
        row = table.iloc[[position]]
        # The same formulas at the same parameters in another grouping of the rows.
        assert own.probability_alive(row).iloc[0] == pytest.approx(alive.iloc[position],
                                                                   rel=1e-10)
        assert own.expected_purchases(row, 3.0).iloc[0] == pytest.approx(
            expected.iloc[position], rel=1e-10)


def test_set_params_by_correlation_and_its_bounds():
    model = ParetoNBDCorrelationModel().set_params_({**MARGINALS, "cor": 0.1})
    assert model.correlation_ == pytest.approx(0.1, rel=1e-12)
    assert float(correlation(model.params_.to_numpy())) == pytest.approx(0.1, rel=1e-12)
    with pytest.raises(ValidationError, match=r"cor = 0.5 is outside .*\(-0.201148, 0.149071\)"):
        ParetoNBDCorrelationModel().set_params_({**MARGINALS, "cor": 0.5})
    # The reach at these marginals, from omega's bounds (1 / max of the kernels' products).
    first, second = 1 / 3, (1 / 2) ** 0.8
    scale = first * second * np.sqrt(0.8) / (1.5 * 2.0)
    assert correlation_range(*MARGINALS.values()) == pytest.approx(
        (-scale / max(first * second, (1 - first) * (1 - second)),
         scale / max(first * (1 - second), (1 - first) * second)), rel=1e-14)


def test_save_and_load_keep_the_correlation(tmp_path):
    fitted = ParetoNBDCorrelationModel().fit(_simulated(-0.1, 800, 9))
    path = tmp_path / "model.json"
    fitted.save(path)
    loaded = ParetoNBDCorrelationModel.load(path)
    assert loaded.correlation_ == fitted.correlation_
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())


# ------------------------------------------------------------------------------ CLVTools
# CLVTools 0.12.1's pnbd(use.cor = TRUE) on its apparel data (weeks, calibration to
# 2006-12-31), as recorded in neilmurrayee/clvtools tests/fixtures/pnbd_correlation_fit.json
# and correlated_predict.json: the estimate, its log-likelihood, and P(alive) and the expected
# purchases over 207.14 weeks of customers "1", "10", "100", "101", "102".
CLVTOOLS_ESTIMATE = {"r": 1.4704880102238511, "alpha": 48.554568945269587,
                     "s": 0.24618673896477541, "beta": 11.205184518564876}
CLVTOOLS_COR = -0.00099471169403474993
CLVTOOLS_LOG_LIKELIHOOD = -5850.8201910257267
CLVTOOLS_ALIVE = [0.96862437308832627, 0.98989149993722880, 0.28427821077886056,
                  0.58286946881385515, 0.28427821077886056]
CLVTOOLS_EXPECTED = [8.4954263952023688, 4.0332854438138410, 0.4907788930915235,
                     1.6905766774933144, 0.4907788930915235]


def test_likelihood_at_clvtools_correlated_apparel_estimate():
    table = apparel_table()
    model = ParetoNBDCorrelationModel().set_params_({**CLVTOOLS_ESTIMATE, "cor": CLVTOOLS_COR},
                                                    time_unit="W")
    # CLVTools' estimate has omega on its lower bound (kappa ~ 3e-6): the same Sarmanov
    # likelihood. Both sum 600 closed-form terms (~1e-13 relative each): 1e-8 of |LL| ~ 6e3.
    assert model.log_likelihood(table) == pytest.approx(CLVTOOLS_LOG_LIKELIHOOD, abs=1e-8 * 6e3)
    assert model.params_["kappa"] < 1e-4
    # CLVTools predicts with the Pareto/NBD's formulas at the marginals, leaving the
    # correlation out; ours condition on the Sarmanov mixture (checked against simulation
    # above), so they differ here by the correlation's effect alone, ~1e-4.
    customers = table.loc[[1, 10, 100, 101, 102]]
    plain = ParetoNBDModel().set_params_(CLVTOOLS_ESTIMATE, time_unit="W")
    assert np.allclose(plain.probability_alive(customers), CLVTOOLS_ALIVE, rtol=1e-9)
    assert np.allclose(plain.expected_purchases(customers, 207.14285714285714),
                       CLVTOOLS_EXPECTED, rtol=1e-9)
    alive = model.probability_alive(customers).to_numpy()
    assert np.allclose(alive, CLVTOOLS_ALIVE, rtol=1e-3)
    assert not np.allclose(alive, CLVTOOLS_ALIVE, rtol=1e-6)


def test_predictions_at_extreme_histories_are_finite_and_plain_at_omega_zero():
    # Ages from 1e-6 to 1e4, up to 10,000 purchases, the last just now or long ago.
    table = pd.DataFrame({"frequency": [0, 0, 10000, 10000, 3, 50, 1, 10000],
                          "recency": [0, 0, 51.9, 52, 1e-6, 9999, 1e-3, 1],
                          "T": [1e-6, 1e4, 52, 52, 52, 1e4, 1e3, 1e4]})
    marginals = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}  # CDNOW's, in weeks
    plain = ParetoNBDModel().set_params_(marginals)

    def predictions(model):
        return [model.probability_alive(table), model.expected_purchases(table, 52.0),
                model.probability_of_purchases(table, 0, 52.0),
                model.discounted_expected_purchases(table, horizon=np.inf, discount_rate=0.01)]

    lowest, highest = correlation_range(*marginals.values())
    for cor in (0.0, 0.99 * lowest, 0.99 * highest):
        model = ParetoNBDCorrelationModel().set_params_({**marginals, "cor": cor})
        for value, reference in zip(predictions(model), predictions(plain), strict=True):
            assert np.all(np.isfinite(value))
            if cor == 0.0:
                # Weights (1, 0, 0, 0) of the same Pareto/NBD terms: equal to rounding.
                assert np.allclose(value, reference, rtol=1e-12, atol=0)

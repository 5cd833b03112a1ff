"""The Bayesian BG/BB by NUTS on the donations (slow: ~2-4 minutes on 2 busy cores)."""

from __future__ import annotations

import numpy as np
import pytest

from clvmodels import BayesianBetaGeoBetaBinomModel, BetaGeoBetaBinomModel, load_donations

pytestmark = pytest.mark.slow
az = pytest.importorskip("arviz")
pytest.importorskip("pymc")


def test_donations_posterior_agrees_with_the_mle():
    """NUTS (default settings: 4 x 1,000 draws after 1,000 tuning steps) on the 11,104 donors'
    22 weighted patterns: converged (R-hat unrounded <= 1.01, no divergence, bulk ESS > 400)
    and, the weak priors hardly mattering for 11,104 donors, each posterior mean within half
    a posterior sd of the maximum-likelihood estimate. gamma and delta are right-skewed, so
    their means lie above the mode (measured 0.13-0.15 sd; alpha and beta 0.02-0.03); each
    mean carries Monte Carlo error 1/sqrt(ESS) < 0.05 sd: 0.5 sd is the largest offset
    measured plus 7 Monte Carlo standard errors."""
    donations = load_donations()
    model = BayesianBetaGeoBetaBinomModel().fit(donations, weights=donations["weights"],
                                                random_seed=2026)
    mle = BetaGeoBetaBinomModel().fit(donations, weights=donations["weights"])
    draws = model.parameter_draws()
    offsets = (draws.mean() - mle.params_) / draws.std()
    print("\nposterior mean - MLE, in posterior sd:\n" + offsets.round(3).to_string())
    assert (offsets.abs() <= 0.5).all(), offsets
    rhat = az.rhat(model.idata).to_pandas()
    assert (rhat <= 1.01).all(), rhat
    assert int(model.idata.sample_stats["diverging"].sum()) == 0
    assert (az.ess(model.idata).to_pandas() > 400).all()
    # The posterior predictions: P(alive) of every pattern within its credible interval of
    # the MLE's (the intervals are of the parameters' uncertainty, the MLE near their centre).
    alive, point = model.probability_alive(donations), mle.probability_alive(donations)
    assert np.all((alive["lower"] <= point) & (point <= alive["upper"]))

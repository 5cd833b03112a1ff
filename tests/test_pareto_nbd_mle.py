"""How maximum likelihood reaches the Pareto/NBD's (and any analytic-Hessian family's)
maximum on many distinct rows: the evaluations it spends, and that it lands where the general
optimiser lands."""

from __future__ import annotations

import numpy as np
import pytest
from _fitting import fit_data_of, objective_of
from _tolerances import Maximum, assert_same_maximum, stopping_gap

from clvmodels import BetaGeoModel, ParetoNBDModel
from clvmodels.estimation import optimise as optimise_module
from clvmodels.estimation.optimise import maximise

# CDNOW's estimates in weeks.
TRUTH = {ParetoNBDModel: {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67},
         BetaGeoModel: {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}}


def _continuous_customers(model_class, n: int, seed: int):
    rng = np.random.default_rng(seed)
    T = rng.uniform(20.0, 80.0, n)  # continuous: every customer is a distinct row
    return model_class().set_params_(TRUTH[model_class]).simulate(n, T, random_state=rng)


@pytest.mark.parametrize(("model_class", "n_customers"),
                         [(ParetoNBDModel, 60_000), (BetaGeoModel, 250_000)],
                         ids=["pnbd-60k", "bgnbd-250k"])
def test_fit_on_many_rows_evaluates_the_hessian_once_on_all_of_them(model_class, n_customers,
                                                                   monkeypatch):
    """From ten times the smallest warm-start subset (50,000 distinct rows) a family with an
    analytic Hessian fits a subset first, then takes quasi-Newton steps on all rows (gradient
    only: the Pareto/NBD's Hessian costs three gradients) and evaluates the Hessian there
    once, for the last Newton step and the standard errors. It must land where L-BFGS-B from
    scratch lands: the same maximum (log-likelihood and standard errors, tests/_tolerances.py).
    """
    data = _continuous_customers(model_class, n_customers, seed=3)
    evaluations = []
    original = optimise_module.Objective.__call__

    def recording(self, log_params, hessian=False):
        evaluations.append((self.fit_data.n_rows, bool(hessian)))
        return original(self, log_params, hessian)

    monkeypatch.setattr(optimise_module.Objective, "__call__", recording)
    fast = model_class().fit(data)
    monkeypatch.undo()
    assert fast.convergence_["method"] == "Newton steps from a subset's fit"
    on_all_rows = [hessian for rows, hessian in evaluations if rows == fast.n_distinct_rows_]
    assert on_all_rows.count(True) == 1
    assert 1 <= on_all_rows.count(False) <= 8

    model = model_class()
    fit_data = fit_data_of(model, data)
    objective = objective_of(model, fit_data)
    general = maximise(objective, model.family.initial_params(fit_data), model_class.__name__)
    log_likelihood = -fit_data.weights.sum() * objective(np.log(general))[0]
    assert_same_maximum(fast, Maximum(general, log_likelihood, stopping_gap(
        log_likelihood, fit_data.weights.sum(), fit_data.n_rows)))

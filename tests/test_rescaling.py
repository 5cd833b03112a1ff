"""Fits in any unit (issue 13, item 8): the models are scale-equivariant, and the
maximum-likelihood fit runs on data rescaled to a typical T (or spend) near 1.

With the data's times multiplied by c, the maximum of the likelihood is at alpha (and the
Pareto/NBD's beta) times c, the shapes unchanged, and the log-likelihood is lower by
``sum(x) log c`` (a density in the x repeat purchase times); with spends multiplied by c,
gamma is c times larger and the log-likelihood lower by ``n log c`` (a density in each mean
spend). The fits in other units are compared with the fit in weeks as two stopping points of
one maximum (tests/_tolerances.py), their log-likelihoods mapped back by that shift.
"""

from __future__ import annotations

import numpy as np
import pytest
from _fitting import fit_data_of, objective_of
from _tolerances import Maximum, assert_same_maximum, log_likelihood_rounding, stopping_gap

from clvmodels import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel
from clvmodels.estimation.optimise import maximise


def _maximum(fit, data, factor: float, shift: float) -> Maximum:
    """A fit on data in a unit ``factor`` times the reference's, mapped back to it: the
    parameters in the data's unit divided by ``factor``, the log-likelihood plus ``shift``.
    The gap is that of the problem the optimiser solved, the data divided by its scale."""
    family = fit.family
    fit_data = fit_data_of(fit, data)
    scale = family.data_scale(fit_data)
    solved = fit.log_likelihood_ - family.log_likelihood_offset(fit_data, scale)
    unit = family.parameter_scale(factor)
    return Maximum(fit.params_.to_numpy() / unit, fit.log_likelihood_ + shift,
                   stopping_gap(solved, fit.n_customers_, fit.n_distinct_rows_))


@pytest.fixture(scope="module")
def reference_fits(cdnow):
    return {model: model().fit(cdnow) for model in
            (BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, GammaGammaModel)}


@pytest.mark.parametrize("model", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
@pytest.mark.parametrize("factor", [1e9, 1e-9])
def test_purchase_models_fit_times_in_any_unit(cdnow, reference_fits, model, factor):
    """T of 1e9 time units made L-BFGS-B stop ABNORMAL (ConvergenceError)."""
    data = cdnow.copy()
    data[["recency", "T"]] *= factor
    fit = model().fit(data)
    reference = reference_fits[model]
    shift = float(cdnow["frequency"].sum() * np.log(factor))
    assert_same_maximum(_maximum(fit, data, factor, shift), _maximum(reference, cdnow, 1.0, 0.0),
                        covariance=reference.covariance_)
    # The reported log-likelihood is that of the data in their own unit.
    assert fit.log_likelihood(data) == pytest.approx(
        fit.log_likelihood_, rel=log_likelihood_rounding(fit.n_distinct_rows_))


@pytest.mark.parametrize("factor", [1e298, 1e-200])
def test_gamma_gamma_fits_spends_in_any_unit(cdnow, reference_fits, factor):
    """Mean spends around 1e300 made the objective inf (a penalty of 0 times gamma**2 =
    inf)."""
    data = cdnow.copy()
    data["monetary_value"] *= factor
    fit = GammaGammaModel().fit(data)
    reference = reference_fits[GammaGammaModel]
    shift = float((cdnow["frequency"] > 0).sum() * np.log(factor))
    assert_same_maximum(_maximum(fit, data, factor, shift),
                        _maximum(reference, cdnow, 1.0, 0.0), covariance=reference.covariance_)
    assert fit.log_likelihood(data) == pytest.approx(
        fit.log_likelihood_, rel=log_likelihood_rounding(fit.n_distinct_rows_))
    # The information does not depend on the unit: the variances of the shapes p and q agree.
    # (gamma's, gamma**2 times that of log gamma, is beyond the float range at 1e298.) The two
    # Hessians are taken at points within 2.2e-4 standard errors of each other, where the
    # information changes by a relative amount of that order: 1e-3.
    shapes = ["p", "q"]
    np.testing.assert_allclose(np.diag(fit.covariance_.loc[shapes, shapes]),
                               np.diag(reference.covariance_.loc[shapes, shapes]), rtol=1e-3)


def test_the_penalty_applies_in_the_data_units(cdnow):
    """The fit runs on rescaled data, its L2 penalty on the parameters in the data's own units:
    the same maximum as the penalised objective optimised on the data as they are."""
    model = BetaGeoModel(penalizer=0.1)
    fit = model.fit(cdnow)
    objective = objective_of(model, fit_data_of(model, cdnow))
    direct = maximise(objective, fit.params_.to_numpy() * 1.1, "BetaGeoModel")
    weight = fit.n_customers_

    def penalised(params, log_likelihood) -> Maximum:
        value = log_likelihood - weight * 0.1 * np.sum(params**2)
        return Maximum(params, value, stopping_gap(value, weight, fit.n_distinct_rows_))

    at_direct = -weight * objective(np.log(direct))[0]
    assert_same_maximum(penalised(fit.params_.to_numpy(), fit.log_likelihood_),
                        Maximum(direct, at_direct,
                                stopping_gap(at_direct, weight, fit.n_distinct_rows_)),
                        covariance=fit.covariance_)

"""The likelihood-ratio test between nested maximum-likelihood fits (e.g. a model without
covariates, or with a constraint, against one with them); re-exported by
:mod:`clvmodels.evaluate`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from clvmodels.estimation.mle import MLEModel
from clvmodels.validation import ValidationError


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """``statistic = 2 (LL_full - LL_restricted)``, asymptotically chi-squared with ``df``
    degrees of freedom (the difference in free parameters) when the restricted model holds;
    ``p_value`` its upper tail."""

    statistic: float
    df: int
    p_value: float


def likelihood_ratio_test(restricted: MLEModel, full: MLEModel) -> LikelihoodRatioTest:
    """Test a fit against a larger one it is nested in, fitted on the same customers.

    Nesting (the restricted model is the full one with some parameters fixed, e.g. the
    coefficients of dropped covariates at 0, or tied by ``constrain``) is the caller's to
    ensure; what can be checked is: both fitted by maximum likelihood without a penalty (a
    penalised likelihood has no chi-squared ratio), of the same family (or the restricted
    one's family among the full one's ``nested_families``: the Pareto/NBD in the correlated
    Pareto/NBD, at omega = 0), on the same number of customers, the full one with more free
    parameters.

    Raises
    ------
    ValidationError
        If those checks fail, naming the reason.
    """
    for role, model in (("restricted", restricted), ("full", full)):
        if not isinstance(model, MLEModel):
            raise ValidationError(f"likelihood_ratio_test: the {role} model must be a "
                                  f"maximum-likelihood model, got {type(model).__name__}")
        model.check_fitted()
        if not math.isfinite(model.log_likelihood_):
            raise ValidationError(f"likelihood_ratio_test: the {role} model has no "
                                  "log-likelihood (parameters set, not fitted)")
        design = model.covariate_design
        penalised = model.penalizer or (design is not None and any(
            design.spec.penalizer.values()))
        if penalised:
            raise ValidationError(f"likelihood_ratio_test: the {role} model is penalised; "
                                  "the test needs unpenalised maximum likelihood")
    nested = restricted.family.name in full.family.nested_families
    if restricted.family is not full.family and not nested:
        raise ValidationError(f"likelihood_ratio_test: the models are of different families "
                              f"({restricted.family.title}, {full.family.title})")
    if restricted.n_customers_ != full.n_customers_:
        raise ValidationError(
            "likelihood_ratio_test: the models were fitted on different numbers of customers "
            f"({restricted.n_customers_:g}, {full.n_customers_:g}); fit both on the same table")
    df = full.n_params - restricted.n_params
    if df <= 0:
        raise ValidationError(
            f"likelihood_ratio_test: the full model must have more free parameters than the "
            f"restricted one, got {full.n_params} and {restricted.n_params}")
    statistic = 2.0 * (full.log_likelihood_ - restricted.log_likelihood_)
    return LikelihoodRatioTest(float(statistic), int(df),
                               float(stats.chi2.sf(max(statistic, 0.0), df)))


__all__ = ["LikelihoodRatioTest", "likelihood_ratio_test"]

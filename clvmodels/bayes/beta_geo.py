"""Bayesian BG/NBD: the model of :mod:`clvmodels.models.beta_geo` with priors, sampled by NUTS."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from clvmodels.bayes._base import betaln, log_normal
from clvmodels.bayes._transaction import BayesianTransactionModel
from clvmodels.models._base import FitData
from clvmodels.models.beta_geo import BetaGeoModel


def log_likelihood_rows(params: dict, fit_data: FitData):
    """The BG/NBD log-likelihood of each row, ``c + logaddexp(u, v)`` as in
    :func:`clvmodels.models.beta_geo._log_likelihood_parts`, in PyTensor.

    Terms of x, of T and of t_x alone are computed once per distinct value of that column (there
    are few: counts, acquisition dates, purchase dates) and gathered per row.
    ``logaddexp(u, v)`` is written ``u + softplus(v - u)``, finite for any u, v.
    """
    r, alpha, a, b = (params[name] for name in BetaGeoModel.param_names)
    x_values, x_codes = fit_data.levels("x")
    T_values, T_codes = fit_data.levels("T")
    t_values, t_codes = fit_data.levels("t_x")
    x = fit_data["x"]
    log_beta_ab = betaln(a, b)
    level_gamma = pt.gammaln(r + x_values) - pt.gammaln(r)
    level_alive = betaln(a, b + x_values) - log_beta_ab
    # x = 1 stands in where x = 0 (no drop-out term there), keeping the values finite.
    level_dropped = betaln(a + 1, b + np.maximum(x_values, 1.0) - 1) - log_beta_ab
    log_T = pt.log(alpha + T_values)[T_codes]
    log_t = pt.log(alpha + t_values)[t_codes]
    u = level_alive[x_codes] - (r + x) * log_T
    v = level_dropped[x_codes] - (r + x) * log_t
    dropped = pt.switch(x > 0, pt.softplus(v - u), 0.0)
    return level_gamma[x_codes] + r * pt.log(alpha) + u + dropped


class BayesianBetaGeoModel(BayesianTransactionModel):
    """BG/NBD model with a posterior over its parameters (PyMC).

    While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat
    purchase they drop out with probability p ~ Beta(a, b). The likelihood is that of
    :class:`clvmodels.BetaGeoModel`, on customers merged into distinct weighted rows.

    Default priors (weakly informative, log-normal with log-scale sd 2, i.e. 95% of the mass
    within a factor ~50 of the median):

    - ``r``, ``a``, ``b`` ~ LogNormal(log 1, 2);
    - ``alpha`` ~ LogNormal(log alpha0, 2) with alpha0 = sum(T) / sum(frequency + 1), the time
      between purchases in the data, so the prior follows the data's time unit.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name, as unnamed PyMC distributions with positive
        support, e.g. ``{"b": pm.LogNormal.dist(mu=3, sigma=1)}``.

    Attributes
    ----------
    idata : arviz.InferenceData
        Posterior draws of ``r``, ``alpha``, ``a``, ``b`` and the sampler's statistics.
    params_ : Series
        Posterior means, indexed like :class:`clvmodels.BetaGeoModel`'s ``params_``.
    time_unit_, n_customers_, n_distinct_rows_
        As in the maximum-likelihood model.

    Examples
    --------
    >>> from clvmodels import BayesianBetaGeoModel, load_cdnow_summary
    >>> rfm = load_cdnow_summary()
    >>> model = BayesianBetaGeoModel().fit(rfm, random_seed=1)  # doctest: +SKIP
    >>> model.expected_purchases(rfm, 39).head()  # mean, lower, upper  # doctest: +SKIP
    """

    mle_class = BetaGeoModel

    def _default_priors(self, fit_data: FitData) -> dict:
        alpha0 = BetaGeoModel()._initial_params(fit_data)[1]
        return {"r": log_normal(1.0), "alpha": log_normal(alpha0), "a": log_normal(1.0),
                "b": log_normal(1.0)}

    _log_likelihood_rows = staticmethod(log_likelihood_rows)

"""Bayesian BG/NBD: the model of :mod:`clvmodels.models.beta_geo` with priors, sampled by NUTS."""

from __future__ import annotations

from typing import Any

import pymc as pm

from clvmodels.bayes._base import log_normal
from clvmodels.bayes._bgnbd_kernel import log_likelihood
from clvmodels.bayes._bgnbd_nutpie import compile_model
from clvmodels.bayes._transaction import BayesianTransactionModel
from clvmodels.models._base import FitData
from clvmodels.models.beta_geo import BetaGeoModel


class BayesianBetaGeoModel(BayesianTransactionModel):
    """BG/NBD model with a posterior over its parameters (PyMC).

    While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat
    purchase they drop out with probability p ~ Beta(a, b). The likelihood is that of
    :class:`clvmodels.BetaGeoModel`, on customers merged into distinct weighted rows, computed
    with its gradient by one compiled kernel (:mod:`clvmodels.bayes._bgnbd_kernel`).

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

    Notes
    -----
    With log-normal priors (the defaults) nutpie samples a model compiled once per machine, in
    coordinates whitened by the Laplace approximation at the posterior mode (the same
    posterior, ~3 leapfrog steps a draw); see :mod:`clvmodels.bayes._bgnbd_nutpie`.

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

    _log_likelihood = staticmethod(log_likelihood)

    def _compile_nutpie(self, model: pm.Model, fit_data: FitData) -> Any:
        """With log-normal priors (the default) the model compiled once per machine
        (:mod:`clvmodels.bayes._bgnbd_nutpie`); with others, nutpie's compilation of the PyMC
        model."""
        return (compile_model(model, fit_data, self.param_names)
                or super()._compile_nutpie(model, fit_data))

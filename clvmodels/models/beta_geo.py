"""BG/NBD: the beta-geometric / negative binomial model (Fader, Hardie & Lee 2005).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each repeat purchase
they drop out with probability p ~ Beta(a, b). The mathematics it shares with the MBG/NBD is in
:mod:`clvmodels.models.beta_geometric`.
"""

from __future__ import annotations

from typing import ClassVar

from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.family import Parameter
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import PurchasePredictions
from clvmodels.models.beta_geometric import BetaGeometricFamily

#: The parameters of the BG/NBD and of the MBG/NBD.
BETA_GEOMETRIC_PARAMETERS = (
    Parameter("r", "shape of the purchase rate lambda ~ Gamma(r, alpha)"),
    Parameter("alpha", "scale of the purchase rate (in the data's time unit)",
              in_data_unit=True),
    Parameter("a", "first shape of the dropout probability p ~ Beta(a, b)"),
    Parameter("b", "second shape of the dropout probability"),
)


class BetaGeoFamily(BetaGeometricFamily):
    """The BG/NBD declaration: dropout opportunities after each repeat purchase only."""

    name: ClassVar[str] = "bgnbd"
    title: ClassVar[str] = "BG/NBD"
    aliases: ClassVar[tuple[str, ...]] = ("betageo",)
    parameters = BETA_GEOMETRIC_PARAMETERS
    shift: ClassVar[int] = 0


BETA_GEO = BetaGeoFamily()


class BetaGeoModel(PurchasePredictions, MLEModel):
    """BG/NBD model fitted by maximum likelihood.

    Takes ``penalizer`` and keeps the fitted state of
    :class:`~clvmodels.estimation.mle.MLEModel` (``covariance_``, ``log_likelihood_``, ...).

    Static covariates (``purchase_covariates=``, ``dropout_covariates=``, columns of the RFM
    table) as CLVTools' BG/NBD: ``alpha_i = alpha exp(-g_purchase' z_i)`` (a positive
    coefficient: buying more often), ``a_i = a exp(g_dropout' z_i)`` and ``b_i = b
    exp(g_dropout' z_i)`` (the same mean dropout probability, less spread); see
    :class:`~clvmodels.estimation.mle.MLEModel`.

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha`` (purchase rate ~ Gamma(r, alpha), alpha in the data's time unit),
        ``a``, ``b`` (dropout probability ~ Beta(a, b)).

    Examples
    --------
    >>> from clvmodels import BetaGeoModel, load_cdnow_summary
    >>> model = BetaGeoModel().fit(load_cdnow_summary())
    >>> model.params_.round(3).tolist()
    [0.243, 4.414, 0.793, 2.426]
    """

    family = BETA_GEO


class BayesianBetaGeoModel(PurchasePredictions, BayesianModel):
    """BG/NBD model with a posterior over its parameters (PyMC; the ``bayes`` extra).

    The likelihood is :class:`BetaGeoModel`'s, on customers merged into distinct weighted
    rows, computed with its gradient by one compiled kernel
    (:mod:`clvmodels.models.beta_geometric_kernel`, cross-checked against the NumPy code).

    Default priors (weakly informative, log-normal with log-scale sd 2, i.e. 95% of the mass
    within a factor ~50 of the median): ``r``, ``a``, ``b`` ~ LogNormal(log 1, 2);
    ``alpha`` ~ LogNormal(log alpha0, 2) with alpha0 = sum(T) / sum(frequency + 1), the time
    between purchases in the data, so the prior follows the data's time unit.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name, as unnamed PyMC distributions with positive
        support, e.g. ``{"b": pm.LogNormal.dist(mu=3, sigma=1)}``.

    Notes
    -----
    With log-normal priors (the defaults) nutpie samples a model compiled once per machine, in
    coordinates whitened by the Laplace approximation at the posterior mode (the same
    posterior, ~3 leapfrog steps a draw); see :mod:`clvmodels.bayes.native`.

    Examples
    --------
    >>> from clvmodels import BayesianBetaGeoModel, load_cdnow_summary
    >>> rfm = load_cdnow_summary()
    >>> model = BayesianBetaGeoModel().fit(rfm, random_seed=1)  # doctest: +SKIP
    >>> model.expected_purchases(rfm, 39).head()  # mean, lower, upper  # doctest: +SKIP
    """

    family = BETA_GEO

"""MBG/NBD: the modified beta-geometric / negative binomial model (Batislam, Denizel &
Filiztekin 2007; the erratum of Wagner & Hoppe 2008).

As the BG/NBD, but a customer may also drop out right at the first purchase (with the same
probability p ~ Beta(a, b) as after each repeat purchase), so that customers without repeat
purchases can be gone: P(alive) of a customer with x = 0 is below 1, unlike the BG/NBD's. The
shared mathematics is in :mod:`clvmodels.models.beta_geometric`.
"""

from __future__ import annotations

from typing import ClassVar

from clvmodels.estimation.bayesian import BayesianModel
from clvmodels.estimation.mle import MLEModel
from clvmodels.estimation.predictions import PurchasePredictions
from clvmodels.models.beta_geo import BETA_GEOMETRIC_PARAMETERS
from clvmodels.models.beta_geometric import BetaGeometricFamily


class ModifiedBetaGeoFamily(BetaGeometricFamily):
    """The MBG/NBD declaration: a dropout opportunity at the first purchase too."""

    name: ClassVar[str] = "mbgnbd"
    title: ClassVar[str] = "MBG/NBD"
    aliases: ClassVar[tuple[str, ...]] = ("modifiedbetageo",)
    parameters = BETA_GEOMETRIC_PARAMETERS
    shift: ClassVar[int] = 1


MODIFIED_BETA_GEO = ModifiedBetaGeoFamily()


class ModifiedBetaGeoModel(PurchasePredictions, MLEModel):
    """MBG/NBD model fitted by maximum likelihood.

    Takes ``penalizer`` and keeps the fitted state of
    :class:`~clvmodels.estimation.mle.MLEModel` (``covariance_``, ``log_likelihood_``, ...).

    Static covariates as :class:`~clvmodels.BetaGeoModel`'s: ``alpha_i = alpha
    exp(-g_purchase' z_i)``, ``a_i = a exp(g_dropout' z_i)``, ``b_i = b exp(g_dropout' z_i)``.

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha`` (purchase rate ~ Gamma(r, alpha), alpha in the data's time unit),
        ``a``, ``b`` (dropout probability at the first and after each repeat purchase
        ~ Beta(a, b)).

    Examples
    --------
    >>> from clvmodels import ModifiedBetaGeoModel, load_cdnow_summary
    >>> model = ModifiedBetaGeoModel().fit(load_cdnow_summary())
    >>> model.params_.round(3).tolist()
    [0.525, 6.183, 0.891, 1.614]
    """

    family = MODIFIED_BETA_GEO


class BayesianModifiedBetaGeoModel(PurchasePredictions, BayesianModel):
    """MBG/NBD model with a posterior over its parameters (PyMC; the ``bayes`` extra).

    The likelihood is :class:`ModifiedBetaGeoModel`'s, computed by the compiled kernel it
    shares with the BG/NBD; default priors as :class:`~clvmodels.BayesianBetaGeoModel`'s.

    Parameters
    ----------
    priors : dict, optional
        Replacement priors by parameter name (unnamed PyMC distributions, positive support).
    """

    family = MODIFIED_BETA_GEO

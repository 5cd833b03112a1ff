"""lifetimes' ``ModifiedBetaGeoFitter`` (MBG/NBD, Batislam, Denizel & Filiztekin 2007) on
clvmodels' :class:`~clvmodels.ModifiedBetaGeoModel`."""

from __future__ import annotations

from typing import Any

import numpy as np

from clvmodels.compat.lifetimes.fitters.beta_geo_fitter import BetaGeoFitter
from clvmodels.compat.lifetimes.fitters.purchase import negative_log_likelihood
from clvmodels.models import ModifiedBetaGeoModel


class ModifiedBetaGeoFitter(BetaGeoFitter):
    """The MBG/NBD model with lifetimes' API (``lifetimes.ModifiedBetaGeoFitter``): as
    :class:`BetaGeoFitter` (same parameters, arguments and attributes), but a customer may
    also drop out at time 0, so P(alive) is below 1 without repeat purchases."""

    model_class = ModifiedBetaGeoModel

    @staticmethod
    def _negative_log_likelihood(log_params: Any, freq: Any, rec: Any, T: Any, weights: Any,
                                 penalizer_coef: float) -> float:
        """lifetimes' objective at ``log_params`` (the clvmodels MBG/NBD likelihood)."""
        return negative_log_likelihood(ModifiedBetaGeoModel,
                                       np.exp(np.asarray(log_params, float)),
                                       freq, rec, T, weights, penalizer_coef)

"""lifetimes' ``BetaGeoFitter`` (BG/NBD, Fader, Hardie & Lee 2005) on clvmodels'
:class:`~clvmodels.BetaGeoModel`."""

from __future__ import annotations

from typing import Any

import numpy as np

from clvmodels.compat.lifetimes.fitters.purchase import PurchaseFitter, negative_log_likelihood
from clvmodels.models import BetaGeoModel


class BetaGeoFitter(PurchaseFitter):
    """The BG/NBD model with lifetimes' API (``lifetimes.BetaGeoFitter``).

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        lifetimes' L2 penalty ``penalizer_coef * sum(params ** 2)`` on the parameters of the
        data divided by its longest ``T``, added to the mean negative log-likelihood; the
        same objective as clvmodels' ``penalizer`` on that scaled data, which is what the fit
        minimises (so the estimates are lifetimes').

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha``, ``a``, ``b`` (alpha in the data's time unit).
    data : DataFrame
        ``frequency``, ``recency``, ``T``, ``weights`` given to :meth:`fit`.
    variance_matrix_, standard_errors_, confidence_intervals_, summary
        The covariance of the parameters (delta method from the observed information of the
        log-parameters), their standard errors and lifetimes' 95% intervals
        (estimate +- 1.96 standard errors).
    """

    model_class = BetaGeoModel
    param_names = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial_params: Any = None, verbose: bool = False, tol: float = 1e-7,
            index: Any = None, **kwargs: Any) -> BetaGeoFitter:
        """Fit the BG/NBD model by maximum likelihood (clvmodels' optimiser).

        Parameters
        ----------
        frequency, recency, T : array-like
            Repeat purchases, time of the last one and age of each customer (or row).
        weights : array-like, optional
            Customers each row stands for.
        initial_params : array-like, optional
            lifetimes' start: log of (r, alpha, a, b) on the data divided by its longest T.
        verbose : bool, default False
            Print the objective at the optimum.
        tol : float, default 1e-7
            Accepted for lifetimes' signature; clvmodels' optimiser stops at its own, tighter
            tolerance (gradient 1e-10), so the optimum is lifetimes' or better.
        index : array-like, optional
            Index of :attr:`data`.
        **kwargs
            lifetimes' ``scipy.optimize.minimize`` options (``maxiter``, ``disp``, ...):
            accepted and not used (see ``tol``).

        Returns
        -------
        BetaGeoFitter
            self, with ``params_`` and the rest of the fitted state.
        """
        return self.fit_purchases(frequency, recency, T, weights, initial_params, verbose,
                                  index, kwargs)

    @staticmethod
    def _negative_log_likelihood(log_params: Any, freq: Any, rec: Any, T: Any, weights: Any,
                                 penalizer_coef: float) -> float:
        """lifetimes' objective at ``log_params`` (the clvmodels BG/NBD likelihood)."""
        return negative_log_likelihood(BetaGeoModel, np.exp(np.asarray(log_params, float)),
                                       freq, rec, T, weights, penalizer_coef)

    def probability_of_n_purchases_up_to_time(self, t: Any, n: int) -> Any:
        """P(N(t) = n): probability that a new customer makes ``n`` repeat purchases in
        (0, t] (clvmodels' ``probability_of_purchases_new_customer``)."""
        with np.errstate(under="ignore"):
            return self.clvmodels_model.probability_of_purchases_new_customer(n, t)

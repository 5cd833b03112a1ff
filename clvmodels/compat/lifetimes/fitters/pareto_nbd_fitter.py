"""lifetimes' ``ParetoNBDFitter`` (Schmittlein, Morrison & Colombo 1987) on clvmodels'
:class:`~clvmodels.ParetoNBDModel`."""

from __future__ import annotations

from typing import Any

import numpy as np

from clvmodels.compat.lifetimes.fitters.purchase import PurchaseFitter, negative_log_likelihood
from clvmodels.models import ParetoNBDModel
from clvmodels.models.pareto_nbd import log_dropout_integral
from clvmodels.validation import check_count


class ParetoNBDFitter(PurchaseFitter):
    """The Pareto/NBD model with lifetimes' API (``lifetimes.ParetoNBDFitter``).

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        lifetimes' L2 penalty ``penalizer_coef * sum(params ** 2)`` on the parameters of the
        data divided by its longest ``T``. lifetimes adds it to the log-likelihood divided by
        the *mean* weight (not the total, as its other fitters), so the fit gives clvmodels'
        ``penalizer`` ``penalizer_coef / len(frequency)`` on that scaled data: the same
        objective up to a constant factor, hence lifetimes' optimum.

    Attributes
    ----------
    params_ : Series
        ``r``, ``alpha``, ``s``, ``beta`` (alpha and beta in the data's time unit).
    data : DataFrame
        ``frequency``, ``recency``, ``T``, ``weights`` given to :meth:`fit`.
    variance_matrix_, standard_errors_, confidence_intervals_, summary
        As :class:`BetaGeoFitter` (lifetimes' ParetoNBDFitter has none: an addition).
    """

    model_class = ParetoNBDModel
    param_names = ("r", "alpha", "s", "beta")
    time_params = ("alpha", "beta")
    log_start = False
    mean_weight_divisor = True

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            iterative_fitting: int = 1, initial_params: Any = None, verbose: bool = False,
            tol: float = 1e-4, index: Any = None, fit_method: str = "Nelder-Mead",
            maxiter: int = 2000, **kwargs: Any) -> ParetoNBDFitter:
        """Fit the Pareto/NBD model by maximum likelihood (clvmodels' optimiser).

        Parameters
        ----------
        frequency, recency, T, weights, index
            As :meth:`BetaGeoFitter.fit`.
        iterative_fitting : int, default 1
            lifetimes restarted Nelder-Mead this many times from random starts (drawn from
            ``np.random``) and kept the best. clvmodels' optimiser (L-BFGS-B from a
            data-driven start, Nelder-Mead as fallback) is deterministic: one run. Checked
            as lifetimes checks it (> 0, not with ``initial_params`` when > 1).
        initial_params : array-like, optional
            lifetimes' start: (r, alpha, s, beta) on the data divided by its longest T.
        tol, fit_method, maxiter, **kwargs
            lifetimes' ``scipy.optimize.minimize`` settings: accepted and not used.

        Returns
        -------
        ParetoNBDFitter
            self, fitted.
        """
        if iterative_fitting <= 0:
            raise ValueError("iterative_fitting parameter should be greater than 0 as of "
                             "lifetimes v0.2.1")
        if iterative_fitting > 1 and initial_params is not None:
            raise ValueError("iterative_fitting and initial_params should not be both set, as "
                             "no improvement could be made.")
        return self.fit_purchases(frequency, recency, T, weights, initial_params, verbose,
                                  index, kwargs)

    @staticmethod
    def _negative_log_likelihood(params: Any, freq: Any, rec: Any, T: Any, weights: Any,
                                 penalizer_coef: float) -> float:
        """lifetimes' objective at the natural ``params`` (inf unless all are positive):
        minus the weighted clvmodels Pareto/NBD log-likelihood over the mean weight, plus the
        penalty."""
        if np.any(np.asarray(params, dtype=float) <= 0.0):
            return float("inf")
        return negative_log_likelihood(ParetoNBDModel, params, freq, rec, T, weights,
                                       penalizer_coef, divisor="mean")

    @staticmethod
    def _log_A_0(params: Any, freq: Any, recency: Any, age: Any) -> np.ndarray:
        """lifetimes' ``log A_0`` (Schmittlein, Morrison & Colombo's eqs. 19-20): the log of
        ``(r + s + x)`` times the dropout integral ``int_{t_x}^T (alpha + tau)^-(r+x)
        (beta + tau)^-(s+1) dtau``, from clvmodels' evaluation of that integral (closed form,
        or quadrature where SciPy's 2F1 fails)."""
        r, alpha, s, beta = (float(value) for value in params)
        x = np.asarray(freq, dtype=float)
        with np.errstate(under="ignore"):
            return (log_dropout_integral(r, alpha, s, beta, x, np.asarray(recency, float),
                                         np.asarray(age, float)) + np.log(r + s + x))

    def conditional_probability_of_n_purchases_up_to_time(self, n: int, t: Any,
                                                          frequency: Any, recency: Any,
                                                          T: Any) -> Any:
        """P(X(T, T + t) = n): probability that a customer with history (frequency, recency,
        T) makes ``n`` purchases in the next ``t`` (clvmodels' ``probability_of_purchases``),
        shaped like the broadcast inputs. For ``t = 0`` it is 1 for ``n = 0`` and 0 otherwise
        (lifetimes returns 0 for every ``n``)."""
        n = check_count(n)
        return self.history_values(
            lambda model, table, times: model.probability_of_purchases(table, n, times),
            frequency, recency, T, t,
            lambda model, _, times: model.probability_of_purchases_new_customer(n, times))

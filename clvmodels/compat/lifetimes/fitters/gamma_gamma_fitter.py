"""lifetimes' ``GammaGammaFitter`` (Fader, Hardie & Lee 2005; Hardie's note 025) on clvmodels'
:class:`~clvmodels.GammaGammaModel`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvmodels.compat.lifetimes.fitters.base import BaseFitter, broadcast_inputs, shaped
from clvmodels.compat.lifetimes.utils import customer_lifetime_value
from clvmodels.models import GammaGammaModel
from clvmodels.validation import ValidationError


class GammaGammaFitter(BaseFitter):
    """The Gamma-Gamma spend model with lifetimes' API (``lifetimes.GammaGammaFitter``).

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        lifetimes' L2 penalty on (p, q, v) in the currency of the data (lifetimes does not
        rescale spend), added to the mean negative log-likelihood: clvmodels' ``penalizer``.

    Attributes
    ----------
    params_ : Series
        ``p``, ``q``, ``v`` (clvmodels' ``gamma``: the rate of the spend scale, in the
        currency).
    data : DataFrame
        ``monetary_value``, ``frequency``, ``weights`` given to :meth:`fit`.
    variance_matrix_, standard_errors_, confidence_intervals_, summary
        As :class:`BetaGeoFitter`.
    """

    model_class = GammaGammaModel
    param_names = ("p", "q", "v")
    clvmodels_names = ("p", "q", "gamma")

    def fit(self, frequency: Any, monetary_value: Any, weights: Any = None,
            initial_params: Any = None, verbose: bool = False, tol: float = 1e-7,
            index: Any = None, q_constraint: bool = False, **kwargs: Any) -> GammaGammaFitter:
        """Fit the Gamma-Gamma model by maximum likelihood (clvmodels' optimiser).

        Customers without repeat purchases (or with a mean spend of 0) say nothing about
        spend per transaction: clvmodels leaves them out of the fit with a warning (lifetimes'
        likelihood is NaN there).

        Parameters
        ----------
        frequency, monetary_value : array-like
            Repeat purchases and their mean spend, per row.
        weights : array-like, optional
            Customers each row stands for.
        initial_params : array-like, optional
            lifetimes' start: log of (p, q, v).
        q_constraint : bool, default False
            lifetimes bounds q >= 1 (a finite mean spend). clvmodels fits without bounds: an
            unconstrained optimum with q >= 1 is the constrained one; one with q < 1 is
            refused (a ValidationError).
        verbose, tol, index, **kwargs
            As :meth:`BetaGeoFitter.fit`.

        Returns
        -------
        GammaGammaFitter
            self, fitted.
        """
        data, labels, weight_array = self.start_fit(
            kwargs, {"monetary_value": np.asarray(monetary_value, dtype=float),
                     "frequency": frequency}, weights, index)
        data["frequency"] = data["frequency"].astype(float)  # lifetimes keeps floats here
        table = pd.DataFrame({"frequency": data["frequency"].to_numpy(),
                              "monetary_value": data["monetary_value"].to_numpy()},
                             index=labels)

        def check_q(model) -> None:
            if q_constraint and model.params_["q"] < 1:
                raise ValidationError(
                    f"GammaGammaFitter: q_constraint=True, but the likelihood's maximum has "
                    f"q = {model.params_['q']:.4g} < 1 (an infinite mean spend); clvmodels fits "
                    "without bounds, so it cannot give lifetimes' optimum on the bound q = 1")

        return self.finish_fit(data, table, weight_array, penalizer=float(self.penalizer_coef),
                               initial_params=initial_params, log_start=True,
                               factors=np.ones(3), divisor=weight_array.sum(), verbose=verbose,
                               check=check_q)

    @staticmethod
    def _negative_log_likelihood(log_params: Any, frequency: Any, avg_monetary_value: Any,
                                 weights: Any, penalizer_coef: float) -> float:
        """lifetimes' objective at ``log_params`` (the clvmodels Gamma-Gamma likelihood)."""
        params = np.exp(np.asarray(log_params, dtype=float))
        frequency, spend = (np.atleast_1d(np.asarray(v, dtype=float))
                            for v in (frequency, avg_monetary_value))
        weights = np.broadcast_to(np.atleast_1d(np.asarray(weights, dtype=float)),
                                  frequency.shape)
        model = GammaGammaModel()
        fit_data = model.fit_data(pd.DataFrame({"frequency": frequency,
                                                "monetary_value": spend}), weights)
        log_likelihood = fit_data.weights @ model.family.log_likelihood(tuple(params), fit_data)
        return float(-log_likelihood / weights.sum() + penalizer_coef * np.sum(params**2))

    def conditional_expected_average_profit(self, frequency: Any = None,
                                            monetary_value: Any = None) -> Any:
        """Expected mean spend per transaction of each customer (clvmodels'
        ``expected_spend``); the fitted data's by default. Shaped like the broadcast
        inputs (a Series indexed like a Series input)."""
        frequency = self.data["frequency"] if frequency is None else frequency
        monetary_value = self.data["monetary_value"] if monetary_value is None else monetary_value
        flat, shape, index = broadcast_inputs({"frequency": frequency,
                                               "monetary_value": monetary_value})
        with np.errstate(under="ignore"):
            values = self.clvmodels_model.expected_spend(pd.DataFrame(flat))
        return shaped(values.to_numpy(), shape, index)

    def customer_lifetime_value(self, transaction_prediction_model: Any, frequency: Any,
                                recency: Any, T: Any, monetary_value: Any, time: int = 12,
                                discount_rate: float = 0.01, freq: str = "D") -> pd.Series:
        """lifetimes' CLV (:func:`clvmodels.compat.lifetimes.utils.customer_lifetime_value`)
        with the expected mean
        spend of :meth:`conditional_expected_average_profit`.

        Parameters
        ----------
        transaction_prediction_model
            A fitted purchase fitter (with ``predict``).
        frequency, recency, T, monetary_value : Series
            The customers' histories, indexed by customer.
        time : int, default 12
            Months.
        discount_rate : float, default 0.01
            Monthly discount rate.
        freq : {"D", "H", "W", "M"}, default "D"
            The time unit of ``T``.

        Returns
        -------
        Series
            ``clv`` per customer. For clvmodels' continuous discounting and intervals see
            :func:`clvmodels.customer_lifetime_value`.
        """
        spend = self.conditional_expected_average_profit(frequency, monetary_value)
        return customer_lifetime_value(transaction_prediction_model, frequency, recency, T,
                                       spend, time, discount_rate, freq)

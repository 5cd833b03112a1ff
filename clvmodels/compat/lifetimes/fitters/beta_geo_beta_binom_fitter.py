"""lifetimes' ``BetaGeoBetaBinomFitter`` (BG/BB, Fader, Hardie & Shang 2010) on clvmodels'
:class:`~clvmodels.BetaGeoBetaBinomModel`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clvmodels.compat.lifetimes.fitters.base import (
    BaseFitter,
    broadcast_inputs,
    history_table,
    shaped,
)
from clvmodels.compat.lifetimes.fitters.purchase import negative_log_likelihood
from clvmodels.models import BetaGeoBetaBinomModel
from clvmodels.models.beta_geo_beta_binom import log_survived


class BetaGeoBetaBinomFitter(BaseFitter):
    """The BG/BB model with lifetimes' API (``lifetimes.BetaGeoBetaBinomFitter``): purchase
    opportunities in whole periods.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        lifetimes' L2 penalty on (alpha, beta, gamma, delta), added to the mean negative
        log-likelihood; periods are not rescaled, so it is clvmodels' ``penalizer`` as it is.

    Attributes
    ----------
    params_ : Series
        ``alpha``, ``beta`` (transaction probability), ``gamma``, ``delta`` (dropout).
    data : DataFrame
        ``frequency``, ``recency``, ``n_periods``, ``weights`` given to :meth:`fit`.
    variance_matrix_, standard_errors_, confidence_intervals_, summary
        As :class:`BetaGeoFitter`.
    """

    model_class = BetaGeoBetaBinomModel
    param_names = ("alpha", "beta", "gamma", "delta")

    def fit(self, frequency: Any, recency: Any, n_periods: Any, weights: Any = None,
            initial_params: Any = None, verbose: bool = False, tol: float = 1e-7,
            index: Any = None, **kwargs: Any) -> BetaGeoBetaBinomFitter:
        """Fit the BG/BB model by maximum likelihood (clvmodels' optimiser).

        Parameters
        ----------
        frequency : array-like
            Periods with a transaction (after the first), per row.
        recency : array-like
            Period of the last transaction.
        n_periods : array-like
            Transaction opportunities.
        weights : array-like, optional
            Customers each row stands for.
        initial_params : array-like, optional
            lifetimes' start: log of (alpha, beta, gamma, delta).
        verbose, tol, index, **kwargs
            As :meth:`BetaGeoFitter.fit`.

        Returns
        -------
        BetaGeoBetaBinomFitter
            self, fitted.
        """
        data, labels, weight_array = self.start_fit(
            kwargs, {"frequency": frequency, "recency": recency, "n_periods": n_periods},
            weights, index)
        table = pd.DataFrame({"frequency": data["frequency"].to_numpy(),
                              "recency": data["recency"].to_numpy(),
                              "periods": data["n_periods"].to_numpy()}, index=labels)
        return self.finish_fit(data, table, weight_array, penalizer=float(self.penalizer_coef),
                               initial_params=initial_params, log_start=True,
                               factors=np.ones(4), divisor=weight_array.sum(), verbose=verbose)

    def fitted_methods(self) -> dict[str, Any]:
        return {"generate_new_data": self.generate_new_periods}

    def generate_new_periods(self, size: int = 1) -> pd.DataFrame:
        """``generate_new_data``: ``size`` simulated customers with the first ``size``
        numbers of opportunities of the fitted customers (rows repeated by weight)."""
        periods = np.repeat(self.data["n_periods"].to_numpy(dtype=float),
                            self.data["weights"].to_numpy(dtype=np.int64))
        return self.generate_data(size, periods)

    @staticmethod
    def _negative_log_likelihood(log_params: Any, frequency: Any, recency: Any,
                                 n_periods: Any, weights: Any,
                                 penalizer_coef: float = 0) -> float:
        """lifetimes' objective at ``log_params`` (the clvmodels BG/BB likelihood)."""
        return negative_log_likelihood(BetaGeoBetaBinomModel,
                                       np.exp(np.asarray(log_params, float)), frequency,
                                       recency, n_periods, weights, penalizer_coef,
                                       age_column="periods")

    def period_values(self, compute, frequency: Any, recency: Any, n_periods: Any,
                      m: Any = None) -> Any:
        """``compute(model, table, m)`` on the broadcast histories, in the inputs' form."""
        values = {"frequency": frequency, "recency": recency, "periods": n_periods}
        if m is not None:
            values["m"] = m
        flat, shape, index = broadcast_inputs(values)
        table = history_table(flat["frequency"], flat["recency"], flat["periods"],
                              type(self).__name__, age_column="periods")
        with np.errstate(under="ignore"):  # see BaseFitter: underflow to 0 is the answer
            result = compute(self.clvmodels_model, table, flat.get("m"))
        return shaped(np.asarray(result, dtype=float), shape, index)

    def conditional_expected_number_of_purchases_up_to_time(
            self, m_periods_in_future: Any, frequency: Any, recency: Any,
            n_periods: Any) -> Any:
        """Expected transactions in the next ``m_periods_in_future`` periods of a customer
        with history (frequency, recency, n_periods) (clvmodels' ``expected_purchases``),
        shaped like the broadcast inputs."""
        return self.period_values(lambda model, table, m: model.expected_purchases(table, m),
                                  frequency, recency, n_periods, m_periods_in_future)

    def conditional_probability_alive(self, m_periods_in_future: Any, frequency: Any,
                                      recency: Any, n_periods: Any) -> Any:
        """Probability that a customer with history (frequency, recency, n_periods) is alive
        ``m_periods_in_future`` periods later: clvmodels' ``probability_alive`` (alive now)
        times the chance of surviving the next m opportunities given alive now."""
        gamma, delta = (float(v) for v in self._unload_params("gamma", "delta"))

        def alive_later(model, table, m):
            now = model.probability_alive(table).to_numpy()
            n = table["periods"].to_numpy(dtype=float)
            return now * np.exp(log_survived(gamma, delta, n + m) - log_survived(gamma, delta, n))

        return self.period_values(alive_later, frequency, recency, n_periods,
                                  m_periods_in_future)

    def expected_number_of_transactions_in_first_n_periods(self, n: int) -> pd.DataFrame:
        """Expected number of the fitted customers with each observed frequency x over their
        first ``n`` opportunities: the total weight times P(X(n) = x) (clvmodels'
        ``probability_of_purchases_new_customer``).

        Returns
        -------
        DataFrame
            Column ``model``, indexed by ``frequency``.
        """
        counts = self.data.groupby("frequency")["weights"].sum()
        model = self.clvmodels_model
        with np.errstate(under="ignore"):
            values = [model.probability_of_purchases_new_customer(int(x), n)
                      for x in counts.index]
        return pd.DataFrame({"model": np.asarray(values, dtype=float) * counts.sum()},
                            index=pd.Index(counts.index, name="frequency"))

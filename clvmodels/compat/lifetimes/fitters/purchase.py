"""The continuous-time purchase fitters' shared part (BG/NBD, MBG/NBD, Pareto/NBD): lifetimes'
``fit(frequency, recency, T, ...)`` on its scaled data and the predictions every one of them
has, evaluated by the clvmodels model."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from clvmodels.compat.lifetimes.fitters.base import (
    BaseFitter,
    broadcast_inputs,
    history_table,
    shaped,
)


def negative_log_likelihood(model_class: type, params: Any, frequency: Any, recency: Any,
                            T: Any, weights: Any, penalizer_coef: float,
                            divisor: str = "sum", age_column: str = "T") -> float:
    """lifetimes' objective of a purchase model at natural ``params``: minus the weighted
    log-likelihood (clvmodels' family) over the total weight (``divisor="sum"``) or the mean
    weight (``"mean"``, lifetimes' Pareto/NBD), plus ``penalizer_coef * sum(params ** 2)``.
    ``age_column`` names the age in the model's table (``"periods"`` for the BG/BB)."""
    frequency, recency, T = (np.atleast_1d(np.asarray(v, dtype=float))
                             for v in (frequency, recency, T))
    weights = np.broadcast_to(np.atleast_1d(np.asarray(weights, dtype=float)),
                              frequency.shape)
    params = np.asarray(params, dtype=float)
    model = model_class()
    table = pd.DataFrame({"frequency": frequency, "recency": recency, age_column: T})
    fit_data = model.fit_data(table, weights)
    log_likelihood = fit_data.weights @ model.family.log_likelihood(tuple(params), fit_data)
    scale = weights.sum() if divisor == "sum" else weights.mean()
    return float(-log_likelihood / scale + penalizer_coef * np.sum(params**2))


def alive_at_age_zero(model: Any, table: pd.DataFrame, _: Any) -> np.ndarray:
    """P(alive) of customers at age 0 (1, or below for the MBG/NBD's dropout at the first
    purchase): the family's formula at T = t_x = 0, where it is continuous. With repeat
    purchases (an impossible history, which clvmodels' predictions refuse) it is the value
    lifetimes gives: its tests and its alive grids evaluate such corners."""
    params = tuple(model.params_.to_numpy(dtype=float))
    x, t_x, T = (table[name].to_numpy(dtype=float) for name in ("frequency", "recency", "T"))
    return np.exp(model.family.log_alive(params, x, t_x, T))


class PurchaseFitter(BaseFitter):
    """A continuous-time purchase fitter: lifetimes' fit and shared predictions.

    Subclasses set ``model_class``, ``param_names``, ``time_params`` (the parameters in the
    data's time unit, which lifetimes fits on data divided by the longest ``T``),
    ``log_start`` (lifetimes' ``initial_params`` are log-parameters) and
    ``mean_weight_divisor`` (lifetimes' Pareto/NBD divides its log-likelihood by the mean
    weight, not the total).
    """

    time_params: ClassVar[tuple[str, ...]] = ("alpha",)
    log_start: ClassVar[bool] = True
    mean_weight_divisor: ClassVar[bool] = False

    def fit_purchases(self, frequency: Any, recency: Any, T: Any, weights: Any,
                      initial_params: Any, verbose: bool, index: Any,
                      options: dict[str, Any]):
        """lifetimes' fit: the data divided by its longest ``T`` (``_scale``), the clvmodels
        estimator maximising lifetimes' penalised objective there, the estimate mapped back.

        lifetimes' penalty ``penalizer_coef * sum(p ** 2)`` is on the parameters of the
        scaled data, added to the mean negative log-likelihood; clvmodels' ``penalizer`` is
        the same L2 penalty on the parameters of the data it is given, so on the same scaled
        data it is the same objective (for the Pareto/NBD, whose log-likelihood lifetimes
        divides by the mean weight, the coefficient is divided by the number of rows).
        Customers of age 0 without repeat purchases take no part in the clvmodels fit (their
        likelihood is 1) but count in lifetimes' mean, so the estimate is still lifetimes'.
        """
        data, labels, weight_array = self.start_fit(
            options, {"frequency": frequency, "recency": recency, "T": T}, weights, index)
        self._scale = 1.0 / float(np.max(data["T"].to_numpy(dtype=float)))
        table = pd.DataFrame({"frequency": data["frequency"].to_numpy(),
                              "recency": data["recency"].to_numpy(dtype=float) * self._scale,
                              "T": data["T"].to_numpy(dtype=float) * self._scale},
                             index=labels)
        divisor = weight_array.mean() if self.mean_weight_divisor else weight_array.sum()
        # Customers of age 0 without repeat purchases (first seen on the last day) have
        # likelihood 1 whatever the parameters (clvmodels refuses T = 0): the fit runs on the
        # others, with the penalty scaled so that the objective is lifetimes' times a constant.
        informative = ~((table["T"].to_numpy() == 0) & (table["frequency"].to_numpy() == 0))
        penalizer = (float(self.penalizer_coef) * divisor
                     / weight_array[informative].sum())
        factors = np.array([1.0 / self._scale if name in self.time_params else 1.0
                            for name in self.param_names])
        return self.finish_fit(data, table[informative], weight_array[informative],
                               penalizer=penalizer, initial_params=initial_params,
                               log_start=self.log_start, factors=factors, divisor=divisor,
                               verbose=verbose)

    def fitted_methods(self) -> dict[str, Any]:
        return {
            "predict": self.conditional_expected_number_of_purchases_up_to_time,
            "generate_new_data": lambda size=1: self.generate_data(
                size, self.data["T"].to_numpy(dtype=float)),
        }

    # ------------------------------------------------------------------ predictions
    def history_values(self, compute, frequency: Any, recency: Any, T: Any, t: Any = None,
                       new_customer=None, any_history_at_age_zero: bool = False) -> Any:
        """``compute(model, table, t)`` on the broadcast histories (and times ``t``), in
        the inputs' form.

        A customer of age ``T = 0`` without repeat purchases (first seen on the last day, as
        in lifetimes' summaries and alive paths) has no history: ``new_customer(model, rows,
        t)`` gives its values (the new-customer predictions, exact there). clvmodels refuses
        ``T = 0`` with repeat purchases (an impossible history) unless
        ``any_history_at_age_zero``: then ``new_customer`` takes those rows too.
        """
        values = {"frequency": frequency, "recency": recency, "T": T}
        if t is not None:
            values["t"] = t
        flat, shape, index = broadcast_inputs(values)
        table = history_table(flat["frequency"], flat["recency"], flat["T"],
                              type(self).__name__)
        new = ((flat["T"] == 0) & ((flat["frequency"] == 0) | any_history_at_age_zero)
               if new_customer else np.zeros(len(table), dtype=bool))
        times = flat.get("t")
        model = self.clvmodels_model
        result = np.empty(len(table))
        with np.errstate(under="ignore"):  # see BaseFitter: underflow to 0 is the answer
            if not new.all():
                result[~new] = compute(model, table[~new],
                                       None if times is None else times[~new])
            if new.any():
                result[new] = new_customer(model, table[new],
                                           None if times is None else times[new])
        return shaped(result, shape, index)

    def conditional_expected_number_of_purchases_up_to_time(self, t: Any, frequency: Any,
                                                            recency: Any, T: Any) -> Any:
        """Expected repeat purchases in the next ``t`` time units of a customer with history
        (frequency, recency, T) (clvmodels' ``expected_purchases``).

        Returns
        -------
        float, ndarray or Series
            Shaped like the broadcast inputs (a Series indexed like a Series input).
        """
        return self.history_values(
            lambda model, table, times: model.expected_purchases(table, times),
            frequency, recency, T, t,
            lambda model, _, times: model.expected_purchases_new_customer(times))

    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> Any:
        """Probability that a customer with history (frequency, recency, T) is still alive
        (clvmodels' ``probability_alive``), shaped like the broadcast inputs; at age ``T = 0``
        the family's formula there, repeat purchases or not (:func:`alive_at_age_zero`)."""
        return self.history_values(lambda model, table, _: model.probability_alive(table),
                                   frequency, recency, T, None, alive_at_age_zero,
                                   any_history_at_age_zero=True)

    def conditional_probability_alive_matrix(self, max_frequency: int | None = None,
                                             max_recency: int | None = None) -> np.ndarray:
        """P(alive) on the grid of recency 0..max_recency (rows) by frequency
        0..max_frequency (columns), at age ``T = max_recency`` (defaults: the largest fitted
        frequency and ``T``). Customers without repeat purchases are evaluated at recency 0
        (their whole column), as they have no last repeat purchase.
        """
        max_frequency = max_frequency or int(self.data["frequency"].max())
        max_recency = max_recency or int(self.data["T"].max())
        recency, frequency = np.meshgrid(np.arange(max_recency + 1.0),
                                         np.arange(max_frequency + 1.0), indexing="ij")
        recency = np.where(frequency == 0, 0.0, recency)
        return self.conditional_probability_alive(frequency, recency, float(max_recency))

    def expected_number_of_purchases_up_to_time(self, t: Any) -> Any:
        """Expected repeat purchases in (0, t] of a new customer (clvmodels'
        ``expected_purchases_new_customer``): a float for a scalar, else shaped like ``t``
        (a Series indexed like a Series)."""
        flat, shape, index = broadcast_inputs({"t": t})
        with np.errstate(under="ignore"):
            values = self.clvmodels_model.expected_purchases_new_customer(flat["t"])
        return shaped(values, shape, index)

"""CLV with the posterior carried through: each draw of the purchase model's parameters is paired
with a draw of the spend model's, so a customer's CLV draws hold both uncertainties.

Either model may be a maximum-likelihood one (its point estimate then stands for every draw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clvmodels.bayes._posterior import DistinctRows, Summary, check_level, summarise
from clvmodels.bayes._transaction import discounted_future, future_values, log_alive_values
from clvmodels.bayes.gamma_gamma import spend_values
from clvmodels.models._base import check_time_unit, first_rows, is_bayesian, row_codes
from clvmodels.models._transaction import _check_discounting
from clvmodels.models.gamma_gamma import GammaGammaModel


@dataclass
class PosteriorValue:
    """Posterior of every customer's CLV, with the means of its parts."""

    clv: Summary
    rows: DistinctRows
    index: pd.Index
    probability_alive: np.ndarray
    expected_purchases: np.ndarray
    expected_spend: np.ndarray

    def frame(self) -> pd.DataFrame:
        return self.clv.frame(self.rows, self.index)

    def parts(self) -> pd.DataFrame:
        """Posterior means of P(alive), discounted purchases and spend, per customer."""
        codes = self.rows.codes
        return pd.DataFrame(
            {"probability_alive": self.probability_alive[codes],
             "expected_purchases": self.expected_purchases[codes],
             "expected_spend": self.expected_spend[codes]},
            index=self.index,
        )


def _draws(model, n_draws: int, random_seed: int):
    """The model's parameters as (draws, 1) arrays, or (1, 1) for a maximum-likelihood model."""
    if is_bayesian(model):
        return model._param_draws(n_draws, random_seed)
    model._check_fitted()
    return tuple(np.array([[value]]) for value in model.params_.to_numpy(dtype=float))


def posterior_value(
    transaction_model,
    spend_model,
    data: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float,
    margin: float,
    level: float,
    max_draws: int | None,
    keep_draws: bool = False,
    random_seed: int = 0,
) -> PosteriorValue:
    """Per customer: posterior mean and interval of CLV, and the per-draw total over customers.

    The two models' draws are paired at random (they come from independent fits, so any
    pairing is a draw from the joint posterior); the number of draws is the smaller of the two
    models' (and ``max_draws``).
    """
    horizon, discount_rate = _check_discounting(horizon, discount_rate)
    level = check_level(level)
    bayesian = [m for m in (transaction_model, spend_model) if is_bayesian(m)]
    n_draws = min([m.n_draws for m in bayesian] + ([max_draws] if max_draws else []))
    purchase_params = _draws(transaction_model, n_draws, random_seed)
    spend_params = _draws(spend_model, n_draws, random_seed + 1)
    formulas = transaction_model._formulas if is_bayesian(transaction_model) else transaction_model
    x, t_x, T = formulas._rfm_arrays(data)
    check_time_unit(transaction_model, data)
    _, spend = GammaGammaModel._spend_arrays(data)
    rows = DistinctRows(
        {"x": x, "T": T, "t": np.zeros_like(x), "t_x": t_x, "spend": spend},
        group=("x", "T", "t"),
    )
    future = discounted_future(formulas, horizon, discount_rate)
    means = {name: np.empty(len(rows)) for name in ("alive", "purchases", "spend")}
    owner = type(spend_model).__name__

    def evaluate(block: slice) -> np.ndarray:
        # Rows differ by spend more than by history: P(alive) once per distinct history.
        history = row_codes([rows[name][block] for name in ("x", "t_x", "T")])
        firsts = rows.subset(np.arange(block.start, block.stop)[first_rows(history)])
        alive = np.exp(log_alive_values(formulas, purchase_params, firsts, slice(None)))
        alive = alive[:, history]
        purchases = alive * future_values(formulas, purchase_params, rows, block, future)
        spend_draws = spend_values(spend_params, rows["x"][block], rows["spend"][block], owner)
        for name, values in (("alive", alive), ("purchases", purchases),
                             ("spend", spend_draws)):
            means[name][block] = values.mean(axis=0)
        return margin * spend_draws * purchases

    summary = summarise(evaluate, len(rows), n_draws, level=level, counts=rows.counts,
                        keep_draws=keep_draws)
    return PosteriorValue(summary, rows, data.index, means["alive"], means["purchases"],
                          means["spend"])

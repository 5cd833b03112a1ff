"""Per-customer scores for batch use, with one meaning of every output column for the command
line, the report and Spark.

| column | meaning |
| --- | --- |
| ``probability_alive`` | P(the customer is still active at the observation end) |
| ``expected_purchases`` | expected purchases over the horizon, undiscounted (finite horizons) |
| ``discounted_expected_purchases`` | the same purchases, each discounted to today |
| ``expected_spend`` | expected spend per purchase (with a spend model) |
| ``clv`` | margin x expected spend x discounted expected purchases |
| ``segment`` | CLV decile, 1 = most valuable (:func:`score_customers` only: it ranks the base) |

With posterior draws each column but ``segment`` gets ``_lower`` and ``_upper`` (the credible
interval of mass ``level``); the value is the posterior mean. The discount rate is per year
and converted to the model's time unit (:meth:`~clvmodels.timeunit.TimeUnit.rate_per_unit`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from clvmodels.clv import CustomerEquity, equity_of, valuation
from clvmodels.estimation.base import FittedModel
from clvmodels.timeunit import TimeUnit

#: The score columns, in order (see the module docstring).
SCORE_COLUMNS = ("probability_alive", "expected_purchases", "discounted_expected_purchases",
                 "expected_spend", "clv", "segment")


@dataclass(frozen=True)
class ValueSettings:
    """How customers are valued: horizon (in the model's time unit), discount rate per year,
    margin and the mass of intervals."""

    horizon: float = 52.0
    discount_rate: float = 0.0
    margin: float = 1.0
    level: float = 0.9

    def check(self) -> None:
        """Refuse values the valuation would refuse, naming the field.

        Raises
        ------
        ValueError
            With the field's name first (``"horizon: must be > 0, got -1"``).
        """
        if not self.horizon > 0:
            raise ValueError(f"horizon: must be > 0, got {self.horizon}")
        if not (math.isfinite(self.discount_rate) and self.discount_rate >= 0):
            raise ValueError("discount_rate: must be a finite rate >= 0 (e.g. 0.1 for 10% a "
                             f"year), got {self.discount_rate}")
        if math.isinf(self.horizon) and self.discount_rate <= 0:
            raise ValueError("horizon: an infinite horizon needs a positive discount rate")
        if not math.isfinite(self.margin):
            raise ValueError(f"margin: must be a finite number, got {self.margin}")
        if not 0 < self.level < 1:
            raise ValueError(f"level: must be between 0 and 1, got {self.level}")

    def rate_per_unit(self, unit: TimeUnit | str) -> float:
        """The annual discount rate as a rate per time unit (compounded)."""
        return TimeUnit.parse(unit).rate_per_unit(self.discount_rate)

    def as_dict(self, unit: TimeUnit | str) -> dict[str, Any]:
        """The settings with the unit and the per-unit rate, as recorded with the scores."""
        unit = TimeUnit.parse(unit)
        return {
            "horizon": self.horizon,
            "time_unit": unit.value,
            "discount_rate_per_year": self.discount_rate,
            "discount_rate_per_time_unit": self.rate_per_unit(unit),
            "margin": self.margin,
            "level": self.level,
        }


@dataclass
class Scores:
    """Per-customer scores, the customer equity they add up to (None without a spend model)
    and the valuation settings (:meth:`ValueSettings.as_dict`)."""

    table: pd.DataFrame
    equity: CustomerEquity | None
    settings: dict[str, Any] = field(default_factory=dict)


def _columns(name: str, result: pd.Series | pd.DataFrame) -> dict[str, pd.Series]:
    """One column for a point prediction; the mean, ``_lower`` and ``_upper`` with draws."""
    if isinstance(result, pd.DataFrame):
        return {name: result["mean"], f"{name}_lower": result["lower"],
                f"{name}_upper": result["upper"]}
    return {name: result}


def _part_columns(transaction_model: FittedModel, spend_model: FittedModel | None,
                  rfm: pd.DataFrame, settings: ValueSettings, rate: float,
                  progress: Callable[[], None],
                  parts: dict[str, pd.Series | pd.DataFrame] | None = None
                  ) -> dict[str, pd.Series]:
    """The columns before ``clv``, each from the model's own prediction method, or from
    ``parts``: those methods' predictions of P(alive), the discounted expected purchases and
    the expected spend as the CLV's valuation computed them in its one pass over the draws
    (:meth:`clvmodels.clv.Valuation.part_predictions`; the discounted count is a quadrature
    per draw: evaluating it again doubled the scoring time)."""
    level = settings.level
    predictions = {
        "probability_alive": lambda: transaction_model.probability_alive(rfm, level=level),
        "discounted_expected_purchases": lambda: transaction_model.discounted_expected_purchases(
            rfm, horizon=settings.horizon, discount_rate=rate, level=level),
    }
    if math.isfinite(settings.horizon):  # over an infinite horizon the count is unbounded
        predictions["expected_purchases"] = lambda: transaction_model.expected_purchases(
            rfm, settings.horizon, level=level)
    if spend_model is not None:
        predictions["expected_spend"] = lambda: spend_model.expected_spend(rfm, level=level)
    if parts is not None:
        predictions |= {name: (lambda part=part: part) for name, part in parts.items()}
    columns: dict[str, pd.Series] = {}
    for name in SCORE_COLUMNS[:-2]:
        if name in predictions:
            columns |= _columns(name, predictions[name]())
            progress()
    return columns


def _clv_columns(clv: pd.DataFrame) -> dict[str, pd.Series]:
    """``clv`` (and its interval) from a CLV table of :mod:`clvmodels.clv`: computed from
    paired draws of the two models, not from the parts' intervals."""
    columns = {"clv": clv["clv"]}
    if "lower" in clv:
        columns |= {"clv_lower": clv["lower"], "clv_upper": clv["upper"]}
    return columns


def _unit(model: FittedModel) -> TimeUnit:
    return model.time_unit_ or TimeUnit.DAY


def score_parts(spend: bool, horizon: float) -> int:
    """How many times :func:`customer_scores` and :func:`score_customers` call
    ``progress``."""
    return 2 + math.isfinite(horizon) + 2 * spend


def customer_scores(
    transaction_model: FittedModel,
    spend_model: FittedModel | None,
    rfm: pd.DataFrame,
    settings: ValueSettings,
    progress: Callable[[], None] = lambda: None,
) -> pd.DataFrame:
    """Every score column but ``segment`` (see the module docstring), indexed like ``rfm``:
    what a batch of a larger base gets (Spark's executors)."""
    settings.check()
    rate = settings.rate_per_unit(_unit(transaction_model))
    if spend_model is None:
        columns = _part_columns(transaction_model, None, rfm, settings, rate, progress)
        return pd.DataFrame(columns, index=rfm.index)
    value = _valuation(transaction_model, spend_model, rfm, settings, rate)
    progress()
    columns = _part_columns(transaction_model, spend_model, rfm, settings, rate, progress,
                            value.part_predictions())
    return pd.DataFrame(columns | _clv_columns(value.frame()), index=rfm.index)


def _valuation(transaction_model: FittedModel, spend_model: FittedModel, rfm: pd.DataFrame,
               settings: ValueSettings, rate: float):
    """The CLV over every draw, with its parts' intervals (the score columns reuse them)."""
    return valuation(transaction_model, spend_model, rfm, horizon=settings.horizon,
                     discount_rate=rate, margin=settings.margin, level=settings.level,
                     max_draws=None, part_intervals=True)


def score_customers(
    transaction_model: FittedModel,
    spend_model: FittedModel | None,
    rfm: pd.DataFrame,
    settings: ValueSettings,
    progress: Callable[[], None] = lambda: None,
) -> Scores:
    """Every score column, with the CLV deciles ``segment``, and the customer equity of the
    base (without a spend model: the purchase columns alone, no equity)."""
    settings.check()
    unit = _unit(transaction_model)
    rate = settings.rate_per_unit(unit)
    if spend_model is None:
        columns = _part_columns(transaction_model, None, rfm, settings, rate, progress)
        return Scores(pd.DataFrame(columns, index=rfm.index), None, settings.as_dict(unit))
    value = _valuation(transaction_model, spend_model, rfm, settings, rate)
    equity = equity_of(value, 10, settings.level)
    progress()
    columns = _part_columns(transaction_model, spend_model, rfm, settings, rate, progress,
                            value.part_predictions())
    columns |= _clv_columns(equity.clv)
    columns["segment"] = equity.clv["segment"]
    return Scores(pd.DataFrame(columns, index=rfm.index), equity, settings.as_dict(unit))


__all__ = ["SCORE_COLUMNS", "Scores", "ValueSettings", "customer_scores", "score_customers",
           "score_parts"]

"""How the command line and the report put numbers, names and notes before a reader.

* Money always with its currency sign and a fixed number of decimals per column; shares as
  percentages; customer equity always says whether it is revenue (margin 100%) or profit.
* Model and parameter-table names for people (``BG/NBD``, ``standard error``), not the code's
  (``BetaGeoModel``, ``std_error``): a model's name is its family's ``title`` in the registry
  (:mod:`clvmodels.models`).
* Warnings about the data or the fit are collected (:func:`caught_user_warnings`) and shown
  as notes, on the command line's stderr and in the report.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd

from clvmodels.display import (
    CURRENCY,
    decile_table,
    equity_basis,
    horizon_text,
    money,
    percent,
)
from clvmodels.models import model_by_name
from clvmodels.timeunit import TimeUnit

#: What each model of a model directory describes.
ROLE_LABELS = {"transaction_model": "purchase counts", "spend_model": "spend per purchase"}


# ----------------------------------------------------------------------------- numbers
# money, percent, horizon_text, equity_basis and decile_table live in clvmodels.display (a
# foundation, for the notebook displays too) and are re-exported here.
def unit_plural(time_unit: str) -> str:
    """``weeks`` for ``"W"``."""
    return TimeUnit.parse(time_unit).plural


# ----------------------------------------------------------------------------- summaries
def equity_headline(settings: Mapping[str, Any], total: float, n_customers: int,
                    interval: tuple[float, float] | None = None) -> str:
    """The customer-equity line of ``predict``, ``run`` and ``demo``: what it measures (revenue
    or profit at the margin), the horizon and discount rate, total and per customer."""
    line = (
        f"Customer equity ({equity_basis(settings['margin'])}), "
        f"{horizon_text(settings['horizon'], settings['time_unit'])}, "
        f"{percent(settings['discount_rate_per_year'])}/year discount: {money(total)} "
        f"({money(total / n_customers, 2)} per customer, {n_customers:,} customers)"
    )
    if interval is not None:
        low, high = interval
        line += f"; {percent(settings['level'])} interval {money(low)} to {money(high)}"
    return line


def purchases_headline(settings: Mapping[str, Any], scores: pd.DataFrame) -> str:
    """The line of a counts-only ``predict``: expected purchases and the mean P(alive)."""
    n = len(scores)
    if "expected_purchases" in scores:
        total = float(scores["expected_purchases"].sum())
        what = "Expected purchases"
    else:  # an infinite horizon: only the discounted count is finite
        total = float(scores["discounted_expected_purchases"].sum())
        what = f"Discounted expected purchases ({percent(settings['discount_rate_per_year'])}" \
               "/year)"
    return (
        f"{what}, {horizon_text(settings['horizon'], settings['time_unit'])}: {total:,.0f} "
        f"({total / n:,.2f} per customer, {n:,} customers); mean probability of being active "
        f"{float(scores['probability_alive'].mean()):.0%} (no spend model: no customer equity)"
    )


def transactions_used(metadata: Mapping[str, Any]) -> str:
    """How many transactions an RFM table summarises and how many it left out, from its
    metadata: ``4,960 transactions (1,959 after the observation end 1997-09-30 left out)``."""
    log = metadata.get("transactions") or {}
    used, excluded = metadata.get("n_transactions"), metadata.get("n_transactions_excluded")
    if used is None and log.get("n_rows") is not None and excluded is not None:
        used = log["n_rows"] - excluded  # written before the RFM metadata counted them
    text = "the transactions" if used is None else f"{used:,} transactions"
    if excluded:
        end = str(metadata.get("observation_end") or "")[:10]
        text += f" ({excluded:,} after the observation end {end} left out)"
    return text


# ----------------------------------------------------------------------------- names
def model_title(name: str) -> str:
    """A command-line model name as a reader knows it (``mbgnbd`` -> ``MBG/NBD``), from the
    registry; a name it does not know stays as it is."""
    try:
        return model_by_name(name).family.title
    except ValueError:
        return str(name)


def model_label(manifest: Mapping[str, Any], role: str = "transaction_model") -> str:
    """``BG/NBD`` (``Bayesian BG/NBD``) for a model of a manifest; ``none`` for no model."""
    entry = manifest.get(role)
    if entry is None:
        return "none"
    kind = "Bayesian " if manifest.get("bayesian") else ""
    return kind + model_title(entry["name"])


def parameter_columns(columns: pd.Index) -> dict[str, str]:
    """Readable headers for a model's ``summary()`` (maximum likelihood or ArviZ's)."""
    names = {"estimate": "estimate", "std_error": "standard error", "mean": "posterior mean",
             "sd": "posterior sd", "mcse_mean": "Monte Carlo error of the mean",
             "mcse_sd": "Monte Carlo error of the sd", "ess_bulk": "effective draws (bulk)",
             "ess_tail": "effective draws (tails)", "r_hat": "R-hat"}
    labels = {}
    hdi = [c for c in columns if re.fullmatch(r"hdi_[\d.]+%", str(c))]
    for column in columns:
        column = str(column)
        bound = re.fullmatch(r"(lower|upper)_([\d.]+%)", column)
        if bound:
            labels[column] = f"{bound[1]} {bound[2]} bound"
        elif column in hdi and len(hdi) == 2:
            low, high = (float(c[4:-1]) for c in hdi)
            side = "lower" if column == hdi[0] else "upper"
            labels[column] = f"{high - low:g}% HDI, {side} bound"
        else:
            labels[column] = names.get(column, column.replace("_", " "))
    return labels


def fit_settings_text(fit: Mapping[str, Any]) -> str:
    """The fit settings of a manifest as a phrase, e.g. ``maximum likelihood, no penalty`` or
    ``Bayesian, NUTS: 4 chains of 1,000 draws after 1,000 tuning steps, seed 7``."""
    if not fit.get("bayesian"):
        penalizer = fit.get("penalizer", 0.0)
        return "maximum likelihood, " + (f"L2 penalty {penalizer:g}" if penalizer else
                                         "no penalty")
    method = fit.get("method", "nuts")
    chains, draws = fit.get("chains"), fit.get("draws")
    if method == "map":
        text = (f"Bayesian, MAP with a Laplace approximation: {chains:,} x {draws:,} draws")
    else:
        text = (f"Bayesian, NUTS: {chains:,} chains of {draws:,} draws after "
                f"{fit.get('tune', 0):,} tuning steps")
    seed = fit.get("seed")
    return text + (f", seed {seed}" if seed is not None else ", no seed")


# ----------------------------------------------------------------------------- notes
@contextmanager
def caught_user_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collect every UserWarning of a block (each time it is raised) into the yielded list,
    for the caller to show as notes; other warnings are passed on as they were."""
    user_warnings: list[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield user_warnings
    for warning in caught:
        if issubclass(warning.category, UserWarning):
            user_warnings.append(warning)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)


__all__ = ["CURRENCY", "ROLE_LABELS", "caught_user_warnings", "decile_table", "equity_basis",
           "equity_headline", "fit_settings_text", "horizon_text", "model_label", "model_title",
           "money", "parameter_columns", "percent", "purchases_headline", "transactions_used",
           "unit_plural"]

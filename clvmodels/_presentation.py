"""How the command line and the report put numbers, names and options before a reader.

* Money always with its currency sign and a fixed number of decimals per column; shares as
  percentages; customer equity always says whether it is revenue (margin 100%) or profit.
* Model and parameter-table names for people (``BG/NBD``, ``standard error``), not the code's
  (``BetaGeoModel``, ``std_error``).
* The command line's help: choice options checked with a plain message (typer's own check
  prefixes pydantic's "Value error, "), usage lines in the usual notation (``fit [OPTIONS]
  RFM``, not typer's ``{rfm}``) and command summaries that are never cut short.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pandas as pd
import typer
import typer.core

CURRENCY = "$"
UNIT_NAMES = {"h": "hour", "D": "day", "W": "week", "M": "month", "Y": "year"}
#: Command-line model names as a reader knows them.
MODEL_LABELS = {"bgnbd": "BG/NBD", "pnbd": "Pareto/NBD", "gamma-gamma": "Gamma-Gamma"}
#: What each model of a model directory describes.
ROLE_LABELS = {"transaction_model": "purchase counts", "spend_model": "spend per purchase"}

_F = TypeVar("_F", bound=Callable[..., Any])


# ----------------------------------------------------------------------------- numbers
def money(value: float, decimals: int = 0) -> str:
    """``$1,234`` (``-$5.00`` for a negative amount); ``-`` when not finite."""
    if not math.isfinite(value):
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}{CURRENCY}{abs(value):,.{decimals}f}"


def percent(share: float) -> str:
    """A share as a percentage with the digits it has: 0.3 -> ``30%``, 0.125 -> ``12.5%``."""
    return f"{round(share * 100, 4):g}%"


def unit_plural(time_unit: str) -> str:
    return UNIT_NAMES[time_unit] + "s"


def horizon_text(horizon: float, time_unit: str) -> str:
    """``next 52 weeks``, or ``remaining lifetime`` for an infinite horizon."""
    if math.isinf(horizon):
        return "remaining lifetime"
    return f"next {horizon:g} {unit_plural(time_unit)}"


def equity_basis(margin: float) -> str:
    """What customer equity measures at a margin: revenue at 100%, else profit."""
    if margin == 1.0:
        return "revenue: margin 100%"
    return f"profit at a {percent(margin)} margin"


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


def decile_table(segments: pd.DataFrame) -> pd.DataFrame:
    """Equity by CLV decile as text: money with its sign, each column in one precision."""
    return pd.DataFrame({
        "customers": segments["customers"].map("{:,}".format),
        "equity": segments["equity"].map(money),
        "share of equity": segments["share_of_equity"].map("{:.1%}".format),
        "mean CLV": segments["mean_clv"].map(lambda value: money(value, 2)),
        "mean P(alive)": segments["mean_probability_alive"].map("{:.2f}".format),
    }, index=segments.index.rename("decile"))


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
def model_label(manifest: Mapping[str, Any], role: str = "transaction_model") -> str:
    """``BG/NBD`` (``Bayesian BG/NBD``) for a model of a manifest; ``none`` for no model."""
    entry = manifest.get(role)
    if entry is None:
        return "none"
    kind = "Bayesian " if manifest.get("bayesian") else ""
    return kind + MODEL_LABELS.get(entry["name"], entry["name"])


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


# ----------------------------------------------------------------------------- help
def choice(*allowed: str) -> Callable[[str | None], str | None]:
    """An option callback refusing values outside ``allowed`` (with a close match as a hint)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(not_one_of(value, allowed))
        return value

    return check


def not_one_of(value: object, allowed: tuple[str, ...] | Mapping[str, Any]) -> str:
    """``'bgnbdx' is not one of 'bgnbd', 'pnbd' (did you mean 'bgnbd'?)``."""
    allowed = tuple(allowed)
    message = f"{value!r} is not one of {', '.join(map(repr, allowed))}"
    close = difflib.get_close_matches(str(value), allowed, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


def choice_metavar(*allowed: str) -> str:
    return "<" + "|".join(allowed) + ">"


class UsageCommand(typer.core.TyperCommand):
    """A command whose usage line names arguments the usual way: ``clvmodels fit [OPTIONS]
    RFM`` (typer writes required arguments in braces, ``{rfm}``, which reads as syntax)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperArgument):
                name = (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def command(app: typer.Typer) -> Callable[[_F], _F]:
    """``app.command()`` with the plain usage line and the docstring's whole first paragraph
    as the summary in ``--help`` (typer cuts it at ~45 characters, mid-sentence)."""

    def register(function: _F) -> _F:
        summary = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0]
        app.command(cls=UsageCommand, short_help=" ".join(summary.split()))(function)
        return function

    return register

"""Plots for checking and using the models (matplotlib).

Every function takes an optional ``ax`` (a new figure is made without one) and returns the Axes,
labels its axes with their units (the model's time unit, e.g. weeks) and accepts
maximum-likelihood and Bayesian models; for Bayesian models the point is the posterior mean and
bands show equal-tailed posterior intervals.

| function | shows |
| --- | --- |
| :func:`plot_period_transactions` | calibration histogram of repeat purchases |
| :func:`plot_calibration_vs_holdout` | mean holdout purchases by calibration frequency |
| :func:`plot_tracking` | weekly or cumulative repeat transactions over time |
| :func:`plot_frequency_recency_matrix` | expected purchases or P(alive) on a grid |
| :func:`plot_clv_distribution` | histogram of customer lifetime value |
| :func:`plot_equity_concentration` | share of equity vs share of customers |
| :func:`plot_posterior_predictive_check` | histogram with predictive intervals |
| :func:`plot_holdout_intervals` | holdout purchases vs predictive intervals |
| :func:`plot_retention` | contractual: survivors, fitted and projected |
"""

from __future__ import annotations

from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter, PercentFormatter

from clvmodels.baselines import holdout_duration
from clvmodels.clv import CustomerEquity
from clvmodels.estimation.contract import empirical_survival
from clvmodels.evaluate import (
    check_max_frequency,
    count_labels,
    count_probabilities,
    has_draws,
    observed_histogram,
    period_transactions,
    point_values,
    purchase_family,
    tracking,
    unit_label,
)
from clvmodels.timeunit import check_same_unit, set_table_time_unit
from clvmodels.validation import ValidationError, check_level

__all__ = [
    "plot_calibration_vs_holdout",
    "plot_clv_distribution",
    "plot_equity_concentration",
    "plot_frequency_recency_matrix",
    "plot_holdout_intervals",
    "plot_period_transactions",
    "plot_posterior_predictive_check",
    "plot_retention",
    "plot_tracking",
]

OBSERVED_COLOR = "#1f1f1f"
MODEL_COLOR = "#d95f02"
BAND_ALPHA = 0.25
# Histograms drawn for the predictive check of a model with one parameter draw.
_PREDICTIVE_HISTOGRAMS = 400
# Lower end of the log axis of the CLV histogram, as a quantile of the positive values.
_LOW_QUANTILE = 0.005


def _axes(ax: Axes | None) -> Axes:
    return plt.subplots(figsize=(7, 4.2), layout="constrained")[1] if ax is None else ax


def _level_label(level: float) -> str:
    return f"{100 * level:.4g}%"  # 0.9 -> "90%", 0.975 -> "97.5%"


# ----------------------------------------------------------------------------- histograms
def plot_period_transactions(
    model: Any, rfm: pd.DataFrame, *, max_frequency: int = 7, level: float = 0.9,
    ax: Axes | None = None,
) -> Axes:
    """Observed vs expected customers by number of repeat purchases in the calibration period.

    Bars side by side for 0, 1, ..., ``max_frequency``+ repeat purchases; the expected counts
    come from the unconditional purchase-count distribution at each customer's age T (see
    :func:`clvmodels.evaluate.period_transactions`). For a Bayesian model the expected bars
    carry the posterior interval of mass ``level`` (parameter uncertainty only; see
    :func:`plot_posterior_predictive_check` for the predictive check).

    Returns
    -------
    Axes
    """
    table = period_transactions(model, rfm, max_frequency=max_frequency, level=level)
    ax = _axes(ax)
    positions = np.arange(len(table))
    width = 0.4
    ax.bar(positions - width / 2, table["observed"], width, color=OBSERVED_COLOR,
           label="observed")
    error = None
    if "lower" in table:
        error = [table["expected"] - table["lower"], table["upper"] - table["expected"]]
    ax.bar(positions + width / 2, table["expected"], width, color=MODEL_COLOR, yerr=error,
           capsize=3, label=f"expected ({_model_name(model)})")
    ax.set_xticks(positions, table.index)
    age_column = purchase_family(model).rfm_columns[-1]  # "periods" in discrete time
    ages = rfm[age_column]
    span = f"{ages.min():.3g} to {ages.max():.3g} {unit_label(model)}"
    ax.set_xlabel(
        f"Repeat purchases in the calibration period (customer ages {span})"
        if age_column == "T" else f"Periods with a repeat transaction ({span} of opportunities)"
    )
    ax.set_ylabel("Customers")
    ax.set_title("Calibration-period repeat purchases")
    ax.legend(frameon=False)
    return ax


def plot_posterior_predictive_check(
    model: Any, rfm: pd.DataFrame, *, max_frequency: int = 7, level: float = 0.9,
    ax: Axes | None = None, random_seed: int = 0,
) -> Axes:
    """Posterior predictive check of the calibration histogram of repeat purchases.

    For each of up to 400 parameter draws (the estimate alone for a maximum-likelihood model,
    drawn 400 times), a histogram of the customers' calibration repeat purchases is drawn given
    their ages T; it varies with the parameters (with posterior draws) *and* with the purchase
    process, so the interval of mass ``level`` is the range the observed bars should fall in
    if the model is right.

    Returns
    -------
    Axes

    Raises
    ------
    ValidationError
        For a model with covariates (the check draws every customer from one parameter set;
        :func:`plot_period_transactions` follows each customer's covariates).
    """
    if model.covariate_columns:
        raise ValidationError(
            f"{type(model).__name__}: the posterior predictive check draws every customer from "
            "one parameter set, and this model's parameters vary with each customer's "
            f"covariates {list(model.covariate_columns)}; plot_period_transactions compares the "
            "histogram with each customer's own parameters")
    _, _, ages = purchase_family(model).history(rfm)  # T, or periods in discrete time
    check_same_unit(type(model).__name__, model.time_unit_, rfm)
    max_frequency = check_max_frequency(max_frequency)
    level = check_level(level)
    simulated = _predictive_histograms(model, ages, max_frequency, random_seed)
    lower, upper = np.quantile(simulated, [(1 - level) / 2, (1 + level) / 2], axis=0)
    mean = simulated.mean(axis=0)
    observed = observed_histogram(rfm["frequency"].to_numpy(), max_frequency)
    ax = _axes(ax)
    positions = np.arange(max_frequency + 1)
    ax.bar(positions, observed, 0.6, color=OBSERVED_COLOR, alpha=0.85, label="observed")
    ax.errorbar(positions, mean, yerr=[mean - lower, upper - mean], fmt="o", color=MODEL_COLOR,
                capsize=4, label=f"posterior predictive mean, {_level_label(level)} interval")
    ax.set_xticks(positions, count_labels(max_frequency))
    ax.set_xlabel(
        f"Repeat purchases in the calibration period (customer ages up to "
        f"{ages.max():.3g} {unit_label(model)})"
    )
    ax.set_ylabel("Customers")
    ax.set_title(f"Posterior predictive check ({len(simulated)} draws)")
    ax.legend(frameon=False)
    return ax


def _predictive_histograms(model: Any, T: np.ndarray, max_frequency: int, seed: int) -> np.ndarray:
    """Histograms of calibration counts drawn from the posterior predictive, one per draw.

    Given the parameters, customers of the same age are independent with the same count
    distribution, so their histogram is one multinomial draw: exact, and its cost does not
    grow with the number of customers.
    """
    _, counts, probabilities = count_probabilities(model, T, max_frequency)
    probabilities = probabilities / probabilities.sum(axis=2, keepdims=True)
    if len(probabilities) == 1:  # one parameter draw: the purchase process's spread alone
        probabilities = np.repeat(probabilities, _PREDICTIVE_HISTOGRAMS, axis=0)
    rng = np.random.default_rng(seed)
    return rng.multinomial(counts, probabilities).sum(axis=1).astype(float)


def _model_name(model: Any) -> str:
    return purchase_family(model).title + (" Bayesian" if has_draws(model) else "")


# ----------------------------------------------------------------------------- holdout
def plot_calibration_vs_holdout(
    model: Any, calibration_holdout_table: pd.DataFrame, *, max_frequency: int = 7,
    ax: Axes | None = None,
) -> Axes:
    """Mean holdout repeat purchases by calibration frequency, observed vs predicted.

    Customers are grouped by their calibration repeat purchases (``max_frequency``+ pooled);
    the prediction is each customer's conditional expected purchases over the holdout
    (the posterior mean for a Bayesian model). Tick labels give the group sizes.

    Returns
    -------
    Axes
    """
    table = calibration_holdout_table
    duration = holdout_duration(table)
    max_frequency = check_max_frequency(max_frequency)
    predicted = point_values(model.expected_purchases(table, duration)).to_numpy(dtype=float)
    group = np.minimum(table["frequency"].to_numpy(dtype=np.int64), max_frequency)
    sizes = np.bincount(group, minlength=max_frequency + 1)
    present = sizes > 0
    actual_mean = np.bincount(group, table["frequency_holdout"].to_numpy(dtype=float),
                              max_frequency + 1)[present] / sizes[present]
    predicted_mean = np.bincount(group, predicted, max_frequency + 1)[present] / sizes[present]
    positions = np.arange(max_frequency + 1)[present]
    ax = _axes(ax)
    ax.plot(positions, actual_mean, "o-", color=OBSERVED_COLOR, label="observed")
    ax.plot(positions, predicted_mean, "s--", color=MODEL_COLOR,
            label=f"predicted ({_model_name(model)})")
    labels = count_labels(max_frequency)
    ax.set_xticks(positions, [f"{labels[i]}\n({sizes[i]:,})" for i in positions])
    ax.set_xlabel("Repeat purchases in the calibration period (customers)")
    ax.set_ylabel(f"Mean repeat purchases in the holdout\n({duration:.3g} {unit_label(model)})")
    ax.set_title("Calibration vs holdout")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    return ax


def plot_holdout_intervals(
    model: Any, calibration_holdout_table: pd.DataFrame, *, level: float = 0.9,
    ax: Axes | None = None,
) -> Axes:
    """Actual holdout purchases of each customer against their predictive interval (at the
    estimate of a maximum-likelihood model, over the posterior of a Bayesian one).

    Customers are ranked by their interval (upper bound, then predicted mean); the band is
    each customer's predictive interval of mass ``level`` for the purchase count, the line the
    predicted mean, and the dots the actual counts (those outside the band in red). The legend
    gives the coverage, which should be close to ``level`` (at least ``level`` if the model is
    right, as whole-number intervals hold a little more).

    Returns
    -------
    Axes
    """
    level = check_level(level)
    table = calibration_holdout_table
    duration = holdout_duration(table)
    interval = model.predictive_purchases(table, duration, level=level)
    # Ranking by the upper bound first makes the band a staircase rather than a comb.
    order = np.lexsort((interval["mean"].to_numpy(), interval["upper"].to_numpy()))
    mean = interval["mean"].to_numpy(dtype=float)[order]
    lower = interval["lower"].to_numpy(dtype=float)[order]
    upper = interval["upper"].to_numpy(dtype=float)[order]
    actual = table["frequency_holdout"].to_numpy(dtype=float)[order]
    rank = np.arange(1, len(order) + 1)
    inside = (actual >= lower) & (actual <= upper)
    ax = _axes(ax)
    ax.fill_between(rank, lower, upper, step="mid", color=MODEL_COLOR, alpha=2 * BAND_ALPHA,
                    linewidth=0, label=f"{_level_label(level)} predictive interval")
    ax.plot(rank, mean, color=MODEL_COLOR, linewidth=0.8, label="predictive mean")
    ax.scatter(rank[inside], actual[inside], s=6, color=OBSERVED_COLOR, alpha=0.5,
               label=f"actual, inside ({inside.mean():.1%})")
    ax.scatter(rank[~inside], actual[~inside], s=8, color="#c00000", alpha=0.8,
               label=f"actual, outside ({1 - inside.mean():.1%})")
    ax.set_xlabel("Customers ranked by predictive interval and mean")
    ax.set_ylabel(f"Repeat purchases in the holdout\n({duration:.3g} {unit_label(model)})")
    ax.set_title("Holdout purchases vs predictive intervals")
    ax.set_xlim(0, len(rank) + 1)
    ax.legend(frameon=False, loc="upper left")
    return ax


# ----------------------------------------------------------------------------- tracking
def plot_tracking(
    model: Any,
    transactions: pd.DataFrame,
    *,
    calibration_end: object,
    observation_end: object = None,
    cumulative: bool = True,
    customer_col: str = "customer_id",
    date_col: str = "date",
    level: float = 0.9,
    ax: Axes | None = None,
) -> Axes:
    """Repeat transactions of the calibration cohort over calendar time, observed vs expected.

    Fader, Hardie & Lee's tracking plot: the expected curve uses only each customer's first
    purchase date (see :func:`clvmodels.evaluate.tracking`), so after the calibration end
    (dotted line) it is a genuine forecast. ``cumulative=False`` shows weekly counts.
    A Bayesian model adds its posterior interval of mass ``level`` as a band.

    Returns
    -------
    Axes
    """
    table = tracking(model, transactions, calibration_end=calibration_end,
                     observation_end=observation_end, customer_col=customer_col,
                     date_col=date_col, level=level)
    prefix = "cumulative_" if cumulative else ""
    ax = _axes(ax)
    weeks = table.index
    ax.plot(weeks, table[f"{prefix}observed"], color=OBSERVED_COLOR, label="observed")
    ax.plot(weeks, table[f"{prefix}expected"], "--", color=MODEL_COLOR,
            label=f"expected ({_model_name(model)})")
    if f"{prefix}lower" in table:
        ax.fill_between(weeks, table[f"{prefix}lower"], table[f"{prefix}upper"],
                        color=MODEL_COLOR, alpha=BAND_ALPHA, linewidth=0,
                        label=f"{_level_label(level)} posterior interval of the expectation")
    end = table.attrs["calibration_end"]
    ax.axvline(end, color="grey", linestyle=":", linewidth=1.2)
    ax.annotate("calibration end", xy=(end, 0), xycoords=("data", "axes fraction"),
                xytext=(4, 4), textcoords="offset points", ha="left", va="bottom",
                color="grey", fontsize="small")
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.set_xlabel("Week ending (weeks counted from the cohort's first purchase day)")
    ax.set_ylabel("Cumulative repeat transactions" if cumulative
                  else "Repeat transactions per week")
    ax.set_title(
        f"Tracking: {table.attrs['customers']:,} customers acquired by "
        f"{end:%Y-%m-%d}"
    )
    if cumulative:
        ax.set_ylim(bottom=0)
    else:  # room above the weekly peaks for the legend
        shown = [c for c in ("observed", "expected", "upper") if c in table]
        ax.set_ylim(0, 1.3 * table[shown].to_numpy().max())
    ax.legend(frameon=False, loc="upper left" if cumulative else "upper right")
    return ax


# ----------------------------------------------------------------------------- matrix
def plot_frequency_recency_matrix(
    model: Any,
    *,
    T: float,
    kind: str = "expected_purchases",
    t: float = 1.0,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    n_recency: int = 100,
    ax: Axes | None = None,
) -> Axes:
    """Expected purchases in the next ``t``, or P(alive), of a customer of age ``T``, by
    frequency (rows) and recency (columns).

    Frequency runs over 0, 1, ..., ``max_frequency`` (default: ``T`` rounded, at most 100) and
    recency over ``n_recency`` cells spanning (0, ``max_recency``] (default ``T``), each
    evaluated at its centre. A customer without repeat purchases has recency 0 whatever the
    column, so the frequency-0 row repeats that one value. Customers sharing a frequency share
    the model's expensive terms, so a 100 x 100 grid takes milliseconds for an MLE model.

    Returns
    -------
    Axes
    """
    kinds = ("expected_purchases", "probability_alive")
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds}, got {kind!r}")
    T = float(T)
    if not (np.isfinite(T) and T > 0):
        raise ValueError(f"T must be a positive number of {unit_label(model)}, got {T}")
    if max_frequency is None:
        max_frequency = int(min(max(round(T), 1), 100))
    max_frequency = check_max_frequency(max_frequency)
    max_recency = T if max_recency is None else float(max_recency)
    if not 0 < max_recency <= T:
        raise ValueError(f"max_recency must be in (0, T] = (0, {T:g}], got {max_recency}")
    if int(n_recency) != n_recency or n_recency < 1:
        raise ValueError(f"n_recency must be a whole number >= 1, got {n_recency!r}")
    edges = np.linspace(0.0, max_recency, int(n_recency) + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    frequency = np.arange(max_frequency + 1)
    # The frequency-0 row is one customer (recency 0), evaluated once.
    grid = pd.DataFrame({
        "frequency": np.r_[0, np.repeat(frequency[1:], len(centres))],
        "recency": np.r_[0.0, np.tile(centres, max_frequency)],
        "T": T,
    })
    set_table_time_unit(grid, model.time_unit_)
    if kind == "expected_purchases":
        values = point_values(model.expected_purchases(grid, t))
        label = f"Expected purchases in the next {t:g} {unit_label(model)}"
    else:
        values = point_values(model.probability_alive(grid))
        label = "Probability alive"
    values = values.to_numpy(dtype=float)
    matrix = np.vstack([np.full(len(centres), values[0]),
                        values[1:].reshape(max_frequency, len(centres))])
    ax = _axes(ax)
    image = ax.imshow(
        matrix, origin="lower", aspect="auto", cmap="viridis",
        extent=(0.0, max_recency, -0.5, max_frequency + 0.5), interpolation="nearest",
        vmin=0.0, vmax=1.0 if kind == "probability_alive" else None,
    )
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel(f"Recency: age at last purchase ({unit_label(model)})")
    ax.set_ylabel("Frequency: repeat purchases")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{_model_name(model)}: customers of age T = {T:g} {unit_label(model)}")
    return ax


# ----------------------------------------------------------------------------- value
def _clv_values(clv: CustomerEquity | pd.Series | pd.DataFrame) -> pd.Series:
    """Per-customer CLV (the posterior mean of a Bayesian one) from the accepted inputs."""
    if isinstance(clv, CustomerEquity) or hasattr(clv, "clv") and hasattr(clv, "total"):
        clv = clv.clv
    if isinstance(clv, pd.DataFrame):
        for column in ("clv", "mean"):
            if column in clv.columns:
                clv = clv[column]
                break
        else:
            raise ValidationError(
                f"expected a CLV column 'clv' or 'mean', the table has {list(clv.columns)}"
            )
    if not isinstance(clv, pd.Series):
        raise TypeError(
            "clv: expected a CustomerEquity, a Series of CLV, or a DataFrame with a 'clv' or "
            f"'mean' column, got {type(clv).__name__}"
        )
    values = clv.astype(float)
    if values.empty or not np.all(np.isfinite(values)):
        raise ValidationError(
            f"clv: expected finite values for at least one customer, got {len(values)} value(s) "
            f"of which {int((~np.isfinite(values)).sum())} not finite"
        )
    return values


def _value_label(currency: str | None) -> str:
    return f"CLV per customer ({currency})" if currency else "CLV per customer (spend units)"


def _amount_tick(value: float, prefix: str) -> str:
    """An axis amount with the currency sign: ``$1,000``, ``$2.5``, ``-$10``, ``$0.01``."""
    sign = "-" if value < 0 else ""
    size = abs(value)
    digits = f"{size:.2g}" if 0 < size < 1 else f"{size:,.2f}".rstrip("0").rstrip(".")
    return f"{sign}{prefix}{digits}"


def plot_clv_distribution(
    clv: CustomerEquity | pd.Series | pd.DataFrame, *, bins: int = 40,
    currency: str | None = None, ax: Axes | None = None,
) -> Axes:
    """Histogram of customer lifetime value, with its mean and median.

    CLV is heavily skewed, so positive values are binned on a log axis when they span more than
    two decades; the axis then starts at the 0.5th percentile, the first bin holding the few
    customers below it, and customers with CLV <= 0 are counted in the legend.

    Parameters
    ----------
    clv : CustomerEquity, Series or DataFrame
        Per-customer CLV: a :class:`~clvmodels.CustomerEquity`, a Series, or a DataFrame with a
        ``clv`` column (or ``mean``, the posterior mean of a Bayesian CLV).
    bins : int, default 40
    currency : str, optional
        Unit of the amounts for the axis label and tick labels (e.g. "$": ticks read $10,
        $100, $1,000).

    Returns
    -------
    Axes
    """
    values = _clv_values(clv)
    positive = values[values > 0]
    ax = _axes(ax)
    log_scale = len(positive) > 1 and positive.max() > 100 * positive.min()
    if log_scale:
        # A few near-zero values would stretch a log axis over decades nobody occupies.
        low = float(np.quantile(positive, _LOW_QUANTILE))
        edges = np.geomspace(low, positive.max(), bins + 1)
        ax.hist(np.clip(positive, low, None), bins=edges, color=MODEL_COLOR, alpha=0.85)
        ax.set_xscale("log")
    else:
        ax.hist(values, bins=bins, color=MODEL_COLOR, alpha=0.85)
    prefix = currency or ""
    ax.axvline(values.mean(), color=OBSERVED_COLOR, linestyle="--",
               label=f"mean {prefix}{values.mean():,.2f}")
    ax.axvline(values.median(), color=OBSERVED_COLOR, linestyle=":",
               label=f"median {prefix}{values.median():,.2f}")
    non_positive = int((values <= 0).sum())
    if log_scale and (positive < low).any():
        ax.plot([], [], " ", label=f"{int((positive < low).sum()):,} below {prefix}{low:,.2g} "
                "in the first bin")
    if log_scale and non_positive:
        ax.plot([], [], " ", label=f"{non_positive:,} with CLV <= 0 not shown")
    # Amounts on the axis, not powers of ten: $10, $100, $1,000 (log) or $0, $50, ... (linear).
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _amount_tick(value, prefix)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(_value_label(currency) + (", log scale" if log_scale else ""))
    ax.set_ylabel("Customers")
    ax.set_title(f"CLV distribution ({len(values):,} customers)")
    ax.legend(loc="upper right", framealpha=0.9, edgecolor="none")
    return ax


def plot_equity_concentration(
    clv: CustomerEquity | pd.Series | pd.DataFrame, *, ax: Axes | None = None
) -> Axes:
    """Share of customer equity held by the most valuable share of customers (a Lorenz curve).

    Customers are ranked by CLV, most valuable first; the diagonal is equity spread evenly. The
    shares held by the top 10% and 20% are marked on the curve and read out in the legend,
    which sits below the diagonal, where neither the curve (always above it) nor the guide
    lines (left of 20%) can run through its text.

    Returns
    -------
    Axes
    """
    values = np.sort(_clv_values(clv).to_numpy())[::-1]
    total = values.sum()
    if not total > 0:
        raise ValidationError(f"clv: the total equity is {total:g}; expected a positive total")
    customer_share = np.arange(len(values) + 1) / len(values) * 100
    equity_share = np.r_[0.0, np.cumsum(values)] / total * 100
    ax = _axes(ax)
    ax.plot(customer_share, equity_share, color=MODEL_COLOR, label="customers ranked by CLV")
    ax.plot([0, 100], [0, 100], color="grey", linestyle=":", label="equal shares")
    for top, style, marker in ((10, "--", "o"), (20, "-.", "s")):
        share = float(np.interp(top, customer_share, equity_share))
        ax.plot([top, top, 0], [0, share, share], color=OBSERVED_COLOR, linewidth=0.8,
                linestyle=style, marker=marker, markevery=[1], markersize=4,
                label=f"top {top}% of customers hold {share:.0f}%")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100 * max(1.0, equity_share.max() / 100) + 1)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.yaxis.set_major_formatter(PercentFormatter())
    ax.set_xlabel("Share of customers, most valuable first (%)")
    ax.set_ylabel("Share of customer equity (%)")
    ax.set_title("Equity concentration")
    ax.legend(frameon=False, loc="lower right")
    return ax


def plot_retention(
    model: Any, data: pd.DataFrame | pd.Series, *, periods: int | None = None,
    weights: Any = None, level: float = 0.9, ax: Axes | None = None,
) -> Axes:
    """A contractual model's survival curve against the customers actually still active.

    Parameters
    ----------
    model : a fitted sBG or BdW model
    data : DataFrame or Series
        A contract table (its Kaplan-Meier survival is plotted, see
        :func:`clvmodels.estimation.contract.empirical_survival`), or a cohort's survivors
        at the start of each period (e.g. a column of :func:`clvmodels.load_retention_cohorts`,
        holdout years included: they are drawn as observed, against the projection).
    periods : int, optional
        Draw the model to this period (default: twice the data's).
    weights, level
        The contract table's weights; the Bayesian band's mass.

    Returns
    -------
    Axes
    """
    level = check_level(level)
    if isinstance(data, pd.Series):
        observed = data.to_numpy(dtype=float) / float(data.iloc[0])
        observed = pd.Series(observed, index=pd.RangeIndex(len(observed), name="period"))
    else:
        observed = empirical_survival(data, weights)
    last = int(periods if periods is not None else 2 * observed.index[-1])
    curve = model.survival(np.arange(last + 1), level=level)
    ax = _axes(ax)
    ax.plot(observed.index, observed.to_numpy(), "o", color=OBSERVED_COLOR,
            label="observed")
    mean = curve if isinstance(curve, pd.Series) else curve["mean"]
    label = model.family.title + ("" if model.point_estimate else " Bayesian")
    ax.plot(mean.index, mean.to_numpy(), color=MODEL_COLOR, label=label)
    if isinstance(curve, pd.DataFrame):
        ax.fill_between(curve.index, curve["lower"], curve["upper"], color=MODEL_COLOR,
                        alpha=BAND_ALPHA, label=f"{_level_label(level)} interval")
    fitted_to = getattr(model, "n_customers_", None)
    ax.set_xlabel(f"Renewal periods since acquisition ({unit_label(model)})")
    ax.set_ylabel("Share still active")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylim(0, 1.02)
    ax.set_title("Survival: observed and projected"
                 + (f" (fitted on {fitted_to:,.0f} customers)"
                    if isinstance(fitted_to, float) and np.isfinite(fitted_to) else ""))
    ax.legend(frameon=False)
    return ax

"""``lifetimes.plotting``: lifetimes' ten plots, from a fitted model's public lifetimes API.

Every function takes a fitted model as lifetimes' do and reads it only through lifetimes'
public fitter API (``data``, ``params_``, ``generate_new_data``,
``conditional_expected_number_of_purchases_up_to_time``,
``expected_number_of_purchases_up_to_time``, ``conditional_probability_alive``,
``conditional_probability_alive_matrix``), so a compat fitter and a real ``lifetimes``
fitter both work; the plotted data are lifetimes' (same inputs, same series). Each returns
the matplotlib Axes. Differences from lifetimes 0.11.3, whose versions fail on current
matplotlib and pandas for some of these: :func:`plot_expected_repeat_purchases` takes the
next colour from the Axes (lifetimes reads a private matplotlib attribute that no longer
exists); :func:`plot_history_alive` works (lifetimes' alive path fails on pandas 3);
:func:`plot_transaction_rate_heterogeneity` uses its ``suptitle``; the heterogeneity plots
read ``model.params_`` rather than a private method; the cumulative and incremental
tracking plots take ``freq_multiplier`` too.

For the native models, :mod:`clvmodels.plotting` has richer versions of several (with units,
posterior bands and the expected rather than one simulated histogram):
:func:`~clvmodels.plotting.plot_period_transactions`,
:func:`~clvmodels.plotting.plot_calibration_vs_holdout`,
:func:`~clvmodels.plotting.plot_frequency_recency_matrix`,
:func:`~clvmodels.plotting.plot_tracking`.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from scipy import stats

from clvmodels.compat.lifetimes.utils import (
    calculate_alive_path,
    customer_purchase_dates,
    expected_cumulative_transactions,
)

__all__ = [
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_cumulative_transactions",
    "plot_dropout_rate_heterogeneity",
    "plot_expected_repeat_purchases",
    "plot_frequency_recency_matrix",
    "plot_history_alive",
    "plot_incremental_transactions",
    "plot_period_transactions",
    "plot_probability_alive_matrix",
    "plot_transaction_rate_heterogeneity",
]

#: pandas' date-range aliases of lifetimes' periods (month and year ends, as lifetimes'
#: ``"M"`` meant before pandas renamed it ``"ME"``).
_DATE_RANGE_FREQ = {"D": "D", "h": "h", "H": "h", "W": "W", "M": "ME", "Y": "YE", "A": "YE"}
_HOLDOUT_LABELS = {
    "frequency_cal": "Purchases in calibration period",
    "recency_cal": "Age of customer at last purchase",
    "T_cal": "Age of customer at the end of calibration period",
    "time_since_last_purchase": "Time since user made last purchase",
}


def _square_image(ax: Axes) -> None:
    """Make the Axes' image square whatever its shape (lifetimes' ``forceAspect``)."""
    left, right, bottom, top = ax.get_images()[0].get_extent()
    ax.set_aspect(abs((right - left) / (top - bottom)))


def plot_period_transactions(model: Any, max_frequency: int = 7,
                             title: str = "Frequency of Repeat Transactions",
                             xlabel: str = "Number of Calibration Period Transactions",
                             ylabel: str = "Customers", **kwargs: Any) -> Axes:
    """Customers by calibration repeat purchases: the fitted data against one data set of
    the same size drawn with the model's ``generate_new_data``.

    Parameters
    ----------
    model
        A fitted model (its ``data`` and ``generate_new_data(size=...)``).
    max_frequency : int
        Bars for frequencies 0 .. ``max_frequency`` - 1 (the lowest ``max_frequency`` seen).
    title, xlabel, ylabel : str
        Labels.
    **kwargs
        ``label`` (the two bar labels, default ``["Actual", "Model"]``); the rest go to
        ``DataFrame.plot``.

    Returns
    -------
    Axes
    """
    labels = kwargs.pop("label", ["Actual", "Model"])
    observed = model.data["frequency"]
    simulated = model.generate_new_data(size=len(observed))["frequency"]
    counts = pd.concat([observed.value_counts().sort_index().iloc[:max_frequency],
                        simulated.value_counts().sort_index().iloc[:max_frequency]],
                       axis=1).sort_index().fillna(0)
    counts.columns = labels
    ax = counts.plot(kind="bar", **kwargs)
    ax.legend()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_calibration_purchases_vs_holdout_purchases(
    model: Any, calibration_holdout_matrix: pd.DataFrame, kind: str = "frequency_cal",
    n: int = 7, **kwargs: Any,
) -> Axes:
    """Mean holdout purchases, actual and predicted, by a calibration column.

    Parameters
    ----------
    model
        A fitted model (``conditional_expected_number_of_purchases_up_to_time``).
    calibration_holdout_matrix : DataFrame
        From :func:`~clvmodels.compat.lifetimes.utils.calibration_and_holdout_data`.
    kind : str
        The x axis: "frequency_cal", "recency_cal", "T_cal" or "time_since_last_purchase"
        (T_cal - recency_cal).
    n : int
        The first ``n`` groups are shown.
    **kwargs
        Passed to ``DataFrame.plot``.

    Returns
    -------
    Axes
    """
    if kind not in _HOLDOUT_LABELS:
        raise ValueError(f"kind must be one of {list(_HOLDOUT_LABELS)}, got {kind!r}")
    summary = calibration_holdout_matrix.copy()
    duration = summary["duration_holdout"].iloc[0]
    summary["model_predictions"] = model.conditional_expected_number_of_purchases_up_to_time(
        duration, summary["frequency_cal"], summary["recency_cal"], summary["T_cal"])
    if kind == "time_since_last_purchase":
        summary[kind] = summary["T_cal"] - summary["recency_cal"]
    means = summary.groupby(kind)[["frequency_holdout", "model_predictions"]].mean().iloc[:n]
    ax = means.plot(**kwargs)
    ax.set_title("Actual Purchases in Holdout Period vs Predicted Purchases")
    ax.set_xlabel(_HOLDOUT_LABELS[kind])
    ax.set_ylabel("Average of Purchases in Holdout Period")
    ax.legend()
    return ax


def _matrix_axes(matrix: np.ndarray, title: str, xlabel: str, ylabel: str,
                 kwargs: dict[str, Any]) -> Axes:
    interpolation = kwargs.pop("interpolation", "none")
    ax = plt.subplot(111)
    image = ax.imshow(matrix, interpolation=interpolation, **kwargs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _square_image(ax)
    ax.figure.colorbar(image, ax=ax)
    return ax


def plot_frequency_recency_matrix(
    model: Any, T: float = 1, max_frequency: int | None = None,
    max_recency: int | None = None, title: str | None = None,
    xlabel: str = "Customer's Historical Frequency", ylabel: str = "Customer's Recency",
    **kwargs: Any,
) -> Axes:
    """Expected purchases in the next ``T`` of a customer of age ``max_recency``, by
    frequency (columns) and recency (rows), as a heat map.

    Parameters
    ----------
    model
        A fitted model (``data``, ``conditional_expected_number_of_purchases_up_to_time``).
    T : float
        The horizon.
    max_frequency, max_recency : int, optional
        Grid ends (default: the largest frequency and T in the fitted data); the customers'
        age is ``max_recency``.
    title, xlabel, ylabel : str
        Labels.
    **kwargs
        Passed to ``imshow``.

    Returns
    -------
    Axes
    """
    if max_frequency is None:
        max_frequency = int(model.data["frequency"].max())
    if max_recency is None:
        max_recency = int(model.data["T"].max())
    recency, frequency = np.meshgrid(np.arange(max_recency + 1, dtype=float),
                                     np.arange(max_frequency + 1, dtype=float), indexing="ij")
    expected = model.conditional_expected_number_of_purchases_up_to_time(
        T, frequency.ravel(), recency.ravel(), float(max_recency))
    matrix = np.asarray(expected, dtype=float).reshape(recency.shape)
    if title is None:
        title = (f"Expected Number of Future Purchases for {T} Unit{'s'[T == 1:]} of Time,"
                 "\nby Frequency and Recency of a Customer")
    return _matrix_axes(matrix, title, xlabel, ylabel, kwargs)


def plot_probability_alive_matrix(
    model: Any, max_frequency: int | None = None, max_recency: int | None = None,
    title: str = "Probability Customer is Alive,\nby Frequency and Recency of a Customer",
    xlabel: str = "Customer's Historical Frequency", ylabel: str = "Customer's Recency",
    **kwargs: Any,
) -> Axes:
    """P(alive) by frequency (columns) and recency (rows), from the model's
    ``conditional_probability_alive_matrix``, as a heat map.

    Returns
    -------
    Axes
    """
    matrix = np.asarray(model.conditional_probability_alive_matrix(max_frequency, max_recency),
                        dtype=float)
    return _matrix_axes(matrix, title, xlabel, ylabel, kwargs)


def plot_expected_repeat_purchases(
    model: Any, title: str = "Expected Number of Repeat Purchases per Customer",
    xlabel: str = "Time Since First Purchase", ax: Axes | None = None,
    label: str | None = None, **kwargs: Any,
) -> Axes:
    """A new customer's expected repeat purchases over time: solid up to the largest T of
    the fitted data, dashed on to 1.5 times it (100 points each).

    Returns
    -------
    Axes
    """
    if ax is None:
        ax = plt.subplot(111)
    color = kwargs.pop("c", None)
    color = kwargs.pop("color", None) if color is None else color
    max_T = model.data["T"].max()
    times = np.linspace(0, max_T, 100)
    (line,) = ax.plot(times, model.expected_number_of_purchases_up_to_time(times),
                      color=color, label=label, **kwargs)
    times = np.linspace(max_T, 1.5 * max_T, 100)
    ax.plot(times, model.expected_number_of_purchases_up_to_time(times),
            color=line.get_color(), ls="--", **kwargs)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.legend(loc="lower right")
    return ax


def plot_history_alive(model: Any, t: int, transactions: pd.DataFrame, datetime_col: str,
                       freq: str = "D", start_date: Any = None, ax: Axes | None = None,
                       **kwargs: Any) -> Axes:
    """One customer's P(alive) over ``t`` periods from the first purchase, with the purchase
    periods as dashed red lines.

    Parameters
    ----------
    model
        A fitted model (``conditional_probability_alive``).
    t : int
        Periods of ``freq`` to draw.
    transactions : DataFrame
        The customer's transactions.
    datetime_col : str
        Their date column.
    freq : str
        The period: "D", "h", "W", "M" or "Y".
    start_date : date-like, optional
        Left end of the x axis (default: the first purchase).
    ax : Axes, optional
        Where to draw.
    **kwargs
        Ignored, as in lifetimes.

    Returns
    -------
    Axes
    """
    if ax is None:
        ax = plt.subplot(111)
    dates = customer_purchase_dates(transactions, datetime_col)
    first = dates.min()
    start_date = first if start_date is None else start_date
    alias = _DATE_RANGE_FREQ.get(freq, freq)
    path = calculate_alive_path(model, transactions, datetime_col, t, freq)
    path_dates = pd.date_range(start=first, periods=len(path), freq=alias)
    ax.plot(path_dates, path, "-", label="P_alive")
    per_period = pd.Series(1, index=pd.DatetimeIndex(dates)).resample(alias).sum()
    purchases = per_period[per_period >= 1].index
    ax.vlines(purchases.values, ymin=0, ymax=1, colors="r", linestyles="dashed",
              label="purchases")
    ax.set_ylim(0, 1.0)
    ax.set_yticks(np.arange(0, 1.1, 0.1))
    ax.set_xlim(start_date, path_dates[-1])
    ax.legend(loc=3)
    ax.set_ylabel("P_alive")
    ax.set_title("History of P_alive")
    return ax


def _tracking_axes(model: Any, log: tuple[Any, ...], t: int, t_cal: float,
                   set_index_date: bool, labels: tuple[str, str, str], ax: Axes | None,
                   increments: bool, kwargs: dict[str, Any]) -> Axes:
    """Draw lifetimes' tracking table (``log``: transactions, datetime_col, customer_id_col,
    datetime_format, freq, freq_multiplier), cumulative or its increments."""
    transactions, datetime_col, customer_id_col, datetime_format, freq, multiplier = log
    table = expected_cumulative_transactions(
        model, transactions, datetime_col, customer_id_col, t, datetime_format=datetime_format,
        freq=freq, freq_multiplier=multiplier, set_index_date=set_index_date)
    if increments:
        table = table.astype(float).diff()
    title, xlabel, ylabel = labels
    if ax is None:
        ax = plt.subplot(111)
    ax = table.plot(ax=ax, title=title, **kwargs)
    if set_index_date:
        x_vline = table.index[int(t_cal)]
        xlabel = "date"
    else:
        x_vline = t_cal
    ax.axvline(x=x_vline, color="r", linestyle="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def plot_cumulative_transactions(
    model: Any, transactions: pd.DataFrame, datetime_col: str, customer_id_col: str, t: int,
    t_cal: float, datetime_format: str | None = None, freq: str = "D",
    set_index_date: bool = False, title: str = "Tracking Cumulative Transactions",
    xlabel: str = "day", ylabel: str = "Cumulative Transactions", ax: Axes | None = None,
    freq_multiplier: int = 1, **kwargs: Any,
) -> Axes:
    """Actual and predicted cumulative repeat transactions
    (:func:`~clvmodels.compat.lifetimes.utils.expected_cumulative_transactions`), with a
    dashed red line at ``t_cal`` (the calibration end, in rows of that table).

    Returns
    -------
    Axes
    """
    log = (transactions, datetime_col, customer_id_col, datetime_format, freq, freq_multiplier)
    return _tracking_axes(model, log, t, t_cal, set_index_date, (title, xlabel, ylabel), ax,
                          increments=False, kwargs=kwargs)


def plot_incremental_transactions(model: Any, transactions: pd.DataFrame, datetime_col: str,
                                  customer_id_col: str, t: int, t_cal: float,
                                  datetime_format: str | None = None, freq: str = "D",
                                  set_index_date: bool = False,
                                  title: str = "Tracking Daily Transactions",
                                  xlabel: str = "day", ylabel: str = "Transactions",
                                  ax: Axes | None = None, freq_multiplier: int = 1,
                                  **kwargs: Any) -> Axes:
    """As :func:`plot_cumulative_transactions`, per row instead of cumulated (the first row
    has no increment and is not drawn); returns the Axes."""
    return _tracking_axes(
        model, (transactions, datetime_col, customer_id_col, datetime_format, freq,
                freq_multiplier),
        t, t_cal, set_index_date, (title, xlabel, ylabel), ax, increments=True, kwargs=kwargs)


def _density_axes(rv: Any, mean: float, variance: float, suptitle: str, xlabel: str,
                  ylabel: str, suptitle_fontsize: float, kwargs: dict[str, Any]) -> Axes:
    x = np.linspace(0, rv.ppf(0.99), 100)
    fig, ax = plt.subplots(1)
    fig.suptitle(suptitle, fontsize=suptitle_fontsize, fontweight="bold")
    ax.set_title(f"mean: {mean:.3f}, var: {variance:.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    ax.plot(x, rv.pdf(x), **kwargs)
    return ax


def plot_transaction_rate_heterogeneity(
    model: Any, suptitle: str = "Heterogeneity in Transaction Rate",
    xlabel: str = "Transaction Rate", ylabel: str = "Density", suptitle_fontsize: float = 14,
    **kwargs: Any,
) -> Axes:
    """The fitted gamma density of the purchase rate (shape ``r``, rate ``alpha``, from
    ``model.params_``) up to its 99% quantile.

    Returns
    -------
    Axes
    """
    r, alpha = float(model.params_["r"]), float(model.params_["alpha"])
    return _density_axes(stats.gamma(r, scale=1 / alpha), r / alpha, r / alpha**2, suptitle,
                         xlabel, ylabel, suptitle_fontsize, kwargs)


def plot_dropout_rate_heterogeneity(
    model: Any, suptitle: str = "Heterogeneity in Dropout Probability",
    xlabel: str = "Dropout Probability p", ylabel: str = "Density",
    suptitle_fontsize: float = 14, **kwargs: Any,
) -> Axes:
    """The fitted beta density of the dropout probability (``a``, ``b`` from
    ``model.params_``; BG/NBD and MBG/NBD) up to its 99% quantile.

    Returns
    -------
    Axes
    """
    a, b = float(model.params_["a"]), float(model.params_["b"])
    variance = a * b / (a + b) ** 2 / (a + b + 1)
    return _density_axes(stats.beta(a, b), a / (a + b), variance, suptitle, xlabel, ylabel,
                         suptitle_fontsize, kwargs)

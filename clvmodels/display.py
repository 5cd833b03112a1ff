"""What a notebook shows: HTML displays of models and results, and progress bars.

* ``_repr_html_`` of a fitted model, a Bayesian model, a customer-equity result and a backtest
  (Jupyter calls it to show an object) is one of the ``*_html`` functions here. They read the
  objects' public attributes only (this module is a foundation: it imports no other module of
  the package), and escape every string they show, since customer ids, column and parameter
  names are the user's data.
* Long computations (a Bayesian fit, a maximum-likelihood fit on a large table, scoring in
  blocks) show a progress bar (:func:`progress_bar`) only where someone watches: on a terminal,
  or in Jupyter with ipywidgets. ``progress=True`` / ``False`` forces it on or off for one call,
  :func:`progress_setting` for a block of code (the command line turns it off: it draws its own).
* Money and shares as people read them (:func:`money`, :func:`percent`), shared with the
  command line and the report (:mod:`clvmodels.presentation`).
"""

from __future__ import annotations

import html
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

from clvmodels.timeunit import TimeUnit

#: The currency sign of money amounts in tables and the report.
CURRENCY = "$"
# Significant digits of the numbers in the HTML tables.
DIGITS = 4


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


def horizon_text(horizon: float, time_unit: Any) -> str:
    """``next 52 weeks``, or ``remaining lifetime`` for an infinite horizon."""
    if math.isinf(horizon):
        return "remaining lifetime"
    return f"next {horizon:g} {TimeUnit.parse(time_unit).plural}"


def equity_basis(margin: float) -> str:
    """What customer equity measures at a margin: revenue at 100%, else profit."""
    if margin == 1.0:
        return "revenue: margin 100%"
    return f"profit at a {percent(margin)} margin"


def decile_table(segments: pd.DataFrame) -> pd.DataFrame:
    """Equity by CLV decile as text: money with its sign, each column in one precision."""
    return pd.DataFrame({
        "customers": segments["customers"].map("{:,}".format),
        "equity": segments["equity"].map(money),
        "share of equity": segments["share_of_equity"].map("{:.1%}".format),
        "mean CLV": segments["mean_clv"].map(lambda value: money(value, 2)),
        "mean P(alive)": segments["mean_probability_alive"].map("{:.2f}".format),
    }, index=segments.index.rename("decile"))


def number(value: Any, digits: int = DIGITS) -> str:
    """A table cell: floats to ``digits`` significant digits (``-`` when missing), whole
    numbers with thousands separators, anything else as its text."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "-"
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:,.0f}"
        if 10 ** (digits - 1) <= abs(value) < 1e15:  # a log-likelihood: every digit, 2 decimals
            return f"{value:,.2f}"
        return f"{value:.{digits}g}"
    return str(value)


# ----------------------------------------------------------------------------- HTML
_STYLE = ("<style>.clvmodels-repr table{border-collapse:collapse;margin:0.3em 0 0.8em 0}"
          ".clvmodels-repr th,.clvmodels-repr td{padding:2px 8px;text-align:right}"
          ".clvmodels-repr th{font-weight:bold}.clvmodels-repr td.label{text-align:left}"
          ".clvmodels-repr .warning{color:#a4470d}</style>")


def escape(value: Any) -> str:
    """``value`` as text safe inside HTML (``<script>`` shows as text, not as a tag)."""
    return html.escape(str(value), quote=True)


def frame_html(frame: pd.DataFrame, caption: str | None = None) -> str:
    """A table with its index as the first column, every label and cell escaped."""
    head = "".join(f"<th>{escape(column)}</th>" for column in frame.columns)
    rows = "".join(
        f"<tr><th class='label'>{escape(label)}</th>"
        + "".join(f"<td>{escape(number(value))}</td>" for value in row) + "</tr>"
        for label, row in zip(frame.index, frame.itertuples(index=False), strict=True))
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (f"<table>{title}<thead><tr><th>{escape(frame.index.name or '')}</th>{head}</tr>"
            f"</thead><tbody>{rows}</tbody></table>")


def facts_html(facts: Sequence[tuple[str, Any]]) -> str:
    """A two-column table of labelled values (numbers formatted by :func:`number`)."""
    rows = "".join(f"<tr><td class='label'>{escape(label)}</td><td>{escape(number(value))}"
                   "</td></tr>" for label, value in facts)
    return f"<table><tbody>{rows}</tbody></table>"


def notes_html(title: str, notes: Sequence[str], css: str = "") -> str:
    """A titled list of notes (nothing when there are none)."""
    if not notes:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in notes)
    return f"<p><b>{escape(title)}</b></p><ul class='{css}'>{items}</ul>"


def card(title: str, *parts: str) -> str:
    """The parts (HTML already escaped) under a bold title, in one block."""
    return (f"<div class='clvmodels-repr'>{_STYLE}<p><b>{escape(title)}</b></p>"
            + "".join(parts) + "</div>")


def subtitle(text: str) -> str:
    return f"<p><i>{escape(text)}</i></p>"


# ----------------------------------------------------------------------------- models
def _settings(model: Any) -> list[tuple[str, Any]]:
    """The estimator's settings: its public attributes that are not fitted state."""
    return [(name, "default" if value is None or value == {} else value)
            for name, value in vars(model).items()
            if not name.startswith("_") and not name.endswith("_") and name != "idata"]


def _data_facts(model: Any) -> list[tuple[str, Any]]:
    """Customers, distinct rows, customers left out by reason, time unit."""
    facts: list[tuple[str, Any]] = [("customers", getattr(model, "n_customers_", math.nan)),
                                    ("distinct rows", getattr(model, "n_distinct_rows_", 0))]
    facts += [(f"customers left out ({reason})", count)
              for reason, count in getattr(model, "excluded_customers_", {}).items() if count]
    unit = getattr(model, "time_unit_", None)
    facts.append(("time unit", "not recorded" if unit is None else TimeUnit.parse(unit).plural))
    return facts


def _title(model: Any) -> str:
    family = getattr(model, "family", None)
    name = type(model).__name__
    return f"{family.title} ({name})" if family is not None else name


def unfitted_html(model: Any) -> str:
    """An estimator before its fit: its class, its settings, and that it is not fitted."""
    return card(_title(model), subtitle("not fitted: call fit() or load()"),
                facts_html(_settings(model)))


def fitted_model_html(model: Any) -> str:
    """A maximum-likelihood model (any family, contractual ones too): its parameter table
    (``summary()``: estimates, standard errors, intervals), covariate coefficients in a table
    of their own, the likelihood and criteria, the data's size and unit, the optimiser's
    convergence and the warnings of the fit."""
    if not hasattr(model, "params_"):
        return unfitted_html(model)
    table = model.summary()
    base = table.index.isin(model.param_names)
    parts = [frame_html(table[base].rename_axis("parameter"), "parameters")]
    if not base.all():
        parts.append(frame_html(table[~base].rename_axis("coefficient"),
                                "covariate coefficients"))
    log_likelihood = getattr(model, "log_likelihood_", math.nan)
    fit: list[tuple[str, Any]] = []
    if math.isfinite(log_likelihood):
        fit += [("log-likelihood", log_likelihood), ("AIC", model.aic_), ("BIC", model.bic_)]
    else:
        parts.insert(0, subtitle("parameters set by hand: no likelihood, no standard errors"))
    fit += [("free parameters", model.n_params), *_data_facts(model)]
    penalizer = getattr(model, "penalizer", 0.0)
    if penalizer:
        fit.append(("L2 penalty", penalizer))
    parts.append(facts_html(fit))
    convergence = getattr(model, "convergence_", None) or {}
    if convergence:
        parts.append(facts_html([(f"optimiser {key}", value)
                                 for key, value in convergence.items()]))
    parts.append(notes_html("warnings of the fit", getattr(model, "fit_warnings_", ()),
                            "warning"))
    return card(_title(model), *parts)


def bayesian_model_html(model: Any) -> str:
    """A Bayesian model: ArviZ's summary per parameter (posterior mean, sd, HDI, R-hat, bulk
    and tail ESS), the draws, divergences, sampler and time, and the warnings of the fit."""
    if not hasattr(model, "idata"):
        return unfitted_html(model)
    posterior = model.idata.posterior
    attrs = posterior.attrs
    with warnings.catch_warnings():
        # One chain (the Laplace approximation's default) has no R-hat: ArviZ warns, the
        # table shows "-".
        warnings.simplefilter("ignore", UserWarning)
        table = model.summary()
    sampler = str(attrs.get("sampler", "unknown"))
    method = str(attrs.get("method", "nuts"))
    facts: list[tuple[str, Any]] = [
        ("method", "NUTS" if method == "nuts" else "MAP with a Laplace approximation"),
        ("sampler", sampler),
        ("draws x chains", f"{posterior.sizes['draw']:,} x {posterior.sizes['chain']:,}"),
    ]
    stats = getattr(model.idata, "sample_stats", None)
    if stats is not None and "diverging" in stats:
        facts.append(("divergent transitions", int(stats["diverging"].sum())))
    for key, label in (("compile_seconds", "compile time (s)"),
                       ("sampling_seconds", "sampling time (s)"),
                       ("target_accept", "target acceptance"), ("random_seed", "seed")):
        if key in attrs:  # a seed is a name, not a quantity: no thousands separators
            facts.append((label, str(attrs[key]) if key == "random_seed" else attrs[key]))
    parts = [frame_html(table.rename_axis("parameter"), "posterior"), facts_html(facts),
             facts_html(_data_facts(model)),
             notes_html("warnings of the fit", getattr(model, "fit_warnings_", ()), "warning")]
    return card(f"Bayesian {_title(model)}", *parts)


# ----------------------------------------------------------------------------- results
def _total_line(total: float, interval: tuple[float, float] | None, level: float,
                n_customers: int) -> list[tuple[str, Any]]:
    facts: list[tuple[str, Any]] = [("total", money(total))]
    if interval is not None:
        facts.append((f"{percent(level)} interval", f"{money(interval[0])} to "
                      f"{money(interval[1])}"))
    facts += [("customers", n_customers),
              ("per customer", money(total / n_customers, 2) if n_customers else "-")]
    return facts


def equity_html(equity: Any) -> str:
    """A :class:`~clvmodels.clv.CustomerEquity`: the headline (total and its interval,
    customers, horizon, discount rate, what the margin makes it) and the table by decile."""
    facts = _total_line(equity.total, equity.total_interval, equity.level, len(equity.clv))
    unit = equity.time_unit
    if unit is not None and equity.horizon is not None:
        facts.append(("horizon", horizon_text(equity.horizon, unit)))
    elif equity.horizon is not None:
        facts.append(("horizon", "remaining lifetime" if math.isinf(equity.horizon) else
                      f"next {equity.horizon:g} time units"))
    if equity.discount_rate is not None:
        per = f"per {TimeUnit.parse(unit).label}" if unit is not None else "per time unit"
        facts.append(("discount rate", f"{percent(equity.discount_rate)} {per}"))
    if equity.margin is not None:
        facts.append(("measures", equity_basis(equity.margin)))
    segments = equity.segments
    label = "by CLV decile" if len(segments) == 10 else "by CLV segment (1 = most valuable)"
    return card("Customer equity", facts_html(facts), frame_html(decile_table(segments), label))


def contract_equity_html(equity: Any) -> str:
    """A :class:`~clvmodels.contract_value.ContractEquity`: the headline (total and its
    interval, customers, horizon in renewals, discount rate per period, margin basis, a new
    customer's value) and the table by cohort."""
    facts = _total_line(equity.total, equity.total_interval, equity.level, len(equity.clv))
    if equity.horizon is not None:
        facts.append(("horizon", "every future renewal" if math.isinf(equity.horizon) else
                      f"next {equity.horizon:g} renewals"))
    if equity.discount_rate is not None:
        facts.append(("discount rate", f"{percent(equity.discount_rate)} per period"))
    if equity.margin is not None:
        facts.append(("measures", equity_basis(equity.margin)))
    facts.append(("value of a new customer", money(equity.new_customer_value, 2)))
    parts = [facts_html(facts)]
    if equity.by_cohort is not None:
        parts.append(frame_html(equity.by_cohort, "by cohort"))
    return card("Contractual customer equity", *parts)


def total_repr(equity: Any, details: str) -> str:
    """The one-line repr of an equity result: its class, total (and interval), customers and
    ``details``."""
    interval = ("" if equity.total_interval is None else
                f", {equity.level:.0%} interval {equity.total_interval[0]:,.0f} to "
                f"{equity.total_interval[1]:,.0f}")
    return (f"{type(equity).__name__}(total {equity.total:,.0f}{interval}; "
            f"{len(equity.clv):,} customers{details})")


def backtest_html(backtest: Any) -> str:
    """A :class:`~clvmodels.evaluate.Backtest`: the holdout metrics beside the baselines',
    the reasons of the metrics that do not apply, the calibration histogram's fit."""
    metrics = backtest.metrics
    table = metrics.to_frame(type(backtest.model).__name__).T
    if backtest.baselines is not None:
        table = pd.concat([table, backtest.baselines.reindex(columns=table.columns)])
    parts = [frame_html(table.rename_axis("forecast"), "holdout"),
             notes_html("not applicable", [f"{metric}: {reason}" for metric, reason in
                                           metrics.attrs.get("not_applicable", {}).items()]),
             facts_html([(f"chi-square {key}", value)
                         for key, value in backtest.chi_square.items()]),
             frame_html(backtest.period_transactions, "calibration repeat purchases")]
    return card(f"Backtest of {_title(backtest.model)}", *parts)


# ----------------------------------------------------------------------------- warnings
@contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """Collect the text (``Category: message``) of every warning the block shows, and show
    them as they would have been: the list is filled when the block ends (a warning the
    filters ignore is not collected; one they turn into an error raises as it did)."""
    texts: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        try:
            yield texts
        finally:
            # Leave the recording before showing them again (the filters were applied).
            shown = list(caught)
    for warning in shown:
        texts.append(f"{warning.category.__name__}: {warning.message}")
        warnings.showwarning(warning.message, warning.category, warning.filename,
                             warning.lineno, warning.file, warning.line)


# ----------------------------------------------------------------------------- progress
# None: decide by the environment; True/False: forced (progress_setting) for a block.
_PROGRESS: ContextVar[bool | None] = ContextVar("clvmodels_progress", default=None)
# rich shows one live display at a time: a bar inside another computation's bar is skipped.
_ACTIVE: ContextVar[bool] = ContextVar("clvmodels_progress_active", default=False)


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (an IPython shell connected over ZMQ)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def interactive() -> bool:
    """Whether someone is watching: stderr is a terminal, or a Jupyter kernel with ipywidgets
    (rich draws its live display in a notebook through them; without them it only warns)."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return False
        return True
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def show_progress(progress: bool | None = None) -> bool:
    """Whether to show progress: ``progress`` when given, else :func:`progress_setting`'s,
    else whether the session is :func:`interactive`."""
    if progress is not None:
        return bool(progress)
    setting = _PROGRESS.get()
    return interactive() if setting is None else setting


@contextmanager
def progress_setting(enabled: bool | None) -> Iterator[None]:
    """Show progress bars (True), none (False) or decide by the environment (None) inside
    the block, for every call that leaves ``progress`` to its default."""
    token = _PROGRESS.set(enabled)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


@contextmanager
def progress_bar(description: str, total: int | None = None, progress: bool | None = None,
                 ) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr (a spinner with the elapsed time without ``total``)
    while the block runs, removed at its end; yields the function to call after each of
    ``total`` steps. Nothing is shown unless :func:`show_progress` says so, and nothing
    inside another bar."""
    if not show_progress(progress) or _ACTIVE.get():
        yield _nothing
        return
    from rich import progress as bars
    from rich.console import Console

    columns = [bars.SpinnerColumn(), bars.TextColumn("{task.description}")]
    if total is not None:
        columns += [bars.BarColumn(), bars.MofNCompleteColumn()]
    console = Console(stderr=True)
    token = _ACTIVE.set(True)
    try:
        # Removed at the end where it was drawn live; elsewhere (forced on a log) rich draws
        # nothing live, and the final state is its one line.
        with bars.Progress(*columns, bars.TimeElapsedColumn(), console=console,
                      transient=console.is_terminal or console.is_jupyter) as bar:
            task = bar.add_task(description, total=total)
            yield lambda: bar.advance(task)
    finally:
        _ACTIVE.reset(token)


def _nothing() -> None:
    return None


__all__ = ["CURRENCY", "backtest_html", "bayesian_model_html", "card",
           "contract_equity_html", "decile_table", "equity_basis", "equity_html", "escape",
           "facts_html", "fitted_model_html", "frame_html", "horizon_text",
           "in_notebook", "interactive", "money", "notes_html", "number", "percent",
           "progress_bar", "progress_setting", "recorded_warnings", "show_progress",
           "total_repr", "unfitted_html"]

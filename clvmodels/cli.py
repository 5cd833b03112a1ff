"""The ``clvmodels`` command line: batch CLV scoring without Python code.

Subcommands chain through files::

    clvmodels summarize transactions.csv -o rfm.csv          # transaction log -> RFM table
    clvmodels fit rfm.csv --model bgnbd -o model/            # RFM -> model directory
    clvmodels predict model/ rfm.csv --horizon 52 -o scores.csv
    clvmodels report model/ rfm.csv --horizon 52 --transactions transactions.csv -o report.html
    clvmodels run clvmodels.toml                             # all of it, from one config file
    clvmodels demo                                           # all of it, on the bundled CDNOW data

Errors a user can fix are one line on stderr (``clvmodels: error: ...``) and an exit code a
scheduler can act on (see :data:`EXIT_CODES`); a traceback means a bug (set
``CLVMODELS_DEBUG=1`` to see tracebacks for every error).
"""

from __future__ import annotations

import math
import os
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from clvmodels import _batch, scoring, timeunit
from clvmodels import _presentation as present
from clvmodels._batch import (
    BatchError,
    DataError,
    FitError,
    InputFileError,
    ModelDirectory,
)
from clvmodels.engines.window import parse_end_date
from clvmodels.errors import ConvergenceError
from clvmodels.estimation.base import package_version
from clvmodels.rfm import rfm_summary
from clvmodels.scoring import Scores, ValueSettings
from clvmodels.validation import ValidationError

#: Exit code -> meaning, for schedulers (also in ``clvmodels --help``).
EXIT_CODES = {
    _batch.EXIT_OK: "success",
    _batch.EXIT_BUG: "unexpected error (a bug: the traceback is printed; please report it)",
    _batch.EXIT_USAGE: "bad command line or config file (unknown option, model name, value)",
    _batch.EXIT_INPUT: "an input file or model directory is missing or unreadable",
    _batch.EXIT_DATA: "invalid input data (missing column, bad date, negative amount, ...)",
    _batch.EXIT_FIT: "the model fit did not converge",
    _batch.EXIT_OUTPUT: "an output cannot be written",
    _batch.EXIT_DEPENDENCY: "an optional dependency is missing (pyarrow, the Bayesian extra)",
    130: "interrupted",
}
_EPILOG = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())
RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")
#: Columns of the scores, in order (Bayesian models add ``_lower``/``_upper`` to the first five).
SCORE_COLUMNS = ("probability_alive", "expected_purchases", "discounted_expected_purchases",
                 "expected_spend", "clv", "segment")
_REQUIRED = object()

app = typer.Typer(
    name="clvmodels",
    help="Customer lifetime value from transaction logs: summarize, fit, predict, report.",
    epilog=_EPILOG,
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"clvmodels {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the package version and exit.")] = None,
) -> None:
    """Customer lifetime value from transaction logs: summarize, fit, predict, report."""


_command = present.command(app)
ENGINES = ("pandas", "duckdb")
BAYES_METHODS = ("nuts", "map")


# ----------------------------------------------------------------------------- console output
class Reporter:
    """Progress on stderr (rich, one live line per step) and result tables on stdout.

    ``quiet`` silences both; errors are printed by :func:`main` whatever it says.
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @contextmanager
    def step(
        self, description: str, *, total: int | None = None, live: bool = True
    ) -> Iterator[Callable[[], None]]:
        """Show progress while the block runs, and a done line with the time after it.

        Yields a function the block calls after each of ``total`` parts (a bar then shows
        them; without ``total``, a spinner with the elapsed time). The live display only runs
        on a terminal (a log file gets the done lines alone), and not with ``live=False``:
        steps that draw their own progress bar (the Bayesian samplers) get a start line
        instead, since rich shows one live display at a time.
        """
        if self.quiet:
            yield lambda: None
            return
        start = time.perf_counter()
        if live and self.shows_progress:
            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if total is not None:
                columns += [BarColumn(), MofNCompleteColumn()]
            with Progress(*columns, TimeElapsedColumn(), console=self.err,
                          transient=True) as progress:
                task = progress.add_task(description, total=total)
                yield lambda: progress.advance(task)
        else:
            if not live:
                self.err.print(f"{description} ...", markup=False)
            yield lambda: None
        elapsed = time.perf_counter() - start
        self.err.print(f"[green]done[/] {escape(description)} ({elapsed:.1f} s)")

    @property
    def shows_progress(self) -> bool:
        """Whether progress bars are wanted (not quiet, and stderr is a terminal)."""
        return not self.quiet and self.err.is_terminal

    def note(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"note: {message}", markup=False)

    def line(self, text: str = "") -> None:
        if not self.quiet:
            self.out.print(text, markup=False)

    def table(self, frame: pd.DataFrame, title: str) -> None:
        """A table on stdout, its index as the first column."""
        if self.quiet:
            return
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column(str(frame.index.name or ""), style="bold")
        for column in frame.columns:
            table.add_column(str(column), justify="right")
        for label, row in frame.iterrows():
            table.add_row(escape(str(label)), *(escape(_format_cell(v)) for v in row))
        self.out.print(table)


def _format_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# The library's messages name its keyword arguments; the command line has options instead.
_OPTION_NAMES = {
    "customer_col=...": "--customer-col", "date_col=...": "--date-col",
    "amount_col=...": "--amount-col", "date_format=...": "--date-format",
    "date_format=": "--date-format ", "pass a later observation_end": "pass a later "
    "--observation-end",
}


def _in_cli_terms(message: str) -> str:
    for keyword, option in _OPTION_NAMES.items():
        message = message.replace(keyword, option)
    return message


@contextmanager
def _user_errors(action: str, *, values: bool = True) -> Iterator[None]:
    """Turn the library's errors about the user's data into one-line batch errors.

    ``values`` also takes any ValueError or TypeError for one about a value the user chose
    (the library raises those for dates, units, horizons, holdout periods); without it only
    ValidationError is, so that a bug in a step with no such values keeps its traceback.
    """
    user_errors = (ValueError, TypeError) if values else (ValidationError,)
    try:
        yield
    except ConvergenceError as error:
        raise FitError(f"{action}: {error}") from None
    except user_errors as error:
        raise DataError(f"{action}: {_in_cli_terms(str(error))}") from None


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


@contextmanager
def _warnings_as_notes(reporter: Reporter, kept: list[str] | None = None) -> Iterator[None]:
    """Show the UserWarnings of a block as notes (one line each, unless quiet); ``kept``
    collects those clvmodels itself raised (about the data or the fit, e.g. R-hat, not the
    environment's, e.g. PyTensor's missing BLAS) for the model manifest and the report."""
    with _batch.caught_user_warnings() as caught:
        yield
    seen = set()
    for warning in caught:
        message = _in_cli_terms(str(warning.message))
        if message in seen:
            continue
        seen.add(message)
        reporter.note(" ".join(message.split()))
        if kept is not None and str(warning.filename).startswith(_PACKAGE_DIR):
            kept.append(message)


# ----------------------------------------------------------------------------- the steps
@dataclass
class SummarizeSettings:
    """How to read a transaction log (the options of ``summarize``)."""

    customer_col: str = "customer_id"
    date_col: str = "date"
    amount_col: str | None = "amount"
    date_format: str | None = None
    observation_end: str | None = None
    time_unit: str = "W"
    engine: str = "pandas"


def read_transactions(path: Path, settings: SummarizeSettings) -> pd.DataFrame:
    """A checked transaction log with parsed dates, from CSV or Parquet.

    CSV ids and dates are read as text (ids such as ``00123`` keep their zeros; dates are
    parsed with ``--date-format``). ``attrs["columns"]`` names the customer and date columns
    (for the report's plots) and ``attrs["source"]`` the file.
    """
    from clvmodels.validation import check_transactions

    text = (settings.customer_col, settings.date_col)
    log, _ = _batch.read_table(path, role="transactions", text_columns=text)
    with _user_errors(f"reading {path}"):
        dates = check_transactions(
            log, customer_col=settings.customer_col, date_col=settings.date_col,
            amount_col=settings.amount_col, date_format=settings.date_format,
        )
    log[settings.date_col] = dates
    log.attrs.update(
        columns={"customer_col": settings.customer_col, "date_col": settings.date_col},
        source=str(path),
    )
    return log


def summarize_transactions(
    log: pd.DataFrame | Path, settings: SummarizeSettings, reporter: Reporter
) -> pd.DataFrame:
    """RFM table of a log from :func:`read_transactions`, or of a file with the DuckDB engine
    (read out of core), with the metadata later steps read in ``attrs["metadata"]``."""
    source = str(log) if isinstance(log, Path) else log.attrs["source"]
    with _user_errors(f"summarizing {source}"), _warnings_as_notes(reporter):
        end = (
            None if settings.observation_end is None
            else parse_end_date(settings.observation_end, settings.date_format)
        )
        rfm = rfm_summary(
            str(log) if isinstance(log, Path) else log, customer_col=settings.customer_col,
            date_col=settings.date_col, amount_col=settings.amount_col, observation_end=end,
            time_unit=settings.time_unit, date_format=settings.date_format,
            engine=settings.engine,
        )
    if isinstance(log, Path):  # the log never was in memory: its first day from the ages T
        days = rfm["T"].max() * timeunit.TimeUnit.parse(rfm.attrs["time_unit"]).days
        end_day = pd.Timestamp(rfm.attrs["observation_end"]).normalize()
        first = end_day - pd.Timedelta(days=round(days))
        n_rows = rfm.attrs["n_transactions"] + rfm.attrs["n_transactions_excluded"]
        described = {"n_rows": n_rows, "first_date": first.isoformat(), "last_date": None}
    else:
        dates = log[settings.date_col]
        described = {"n_rows": len(log), "first_date": dates.min().isoformat(),
                     "last_date": dates.max().isoformat()}
    rfm.attrs["metadata"] = _batch.rfm_metadata(
        rfm,
        transactions={
            "path": source,
            **described,
            "customer_col": settings.customer_col,
            "date_col": settings.date_col,
            "amount_col": settings.amount_col,
            "date_format": settings.date_format,
            "engine": settings.engine,
        },
    )
    return rfm


def check_rfm_columns(rfm: pd.DataFrame, source: str, *, spend: bool = True) -> None:
    """The columns fit/predict/report need (``monetary_value`` only with a spend model),
    named in command-line terms."""
    needed = RFM_COLUMNS if spend else RFM_COLUMNS[:-1]
    missing = [column for column in needed if column not in rfm.columns]
    if missing:
        hint = (
            " (summarize with --amount-col naming the spend column, or fit with --spend none "
            "for purchase counts only)"
            if missing == ["monetary_value"] else ""
        )
        raise DataError(
            f"RFM file {source} lacks column(s) {missing}{hint}; it has {list(rfm.columns)}"
        )


@dataclass
class FitSettings:
    """The options of ``fit``."""

    model: str = "bgnbd"
    spend: str = "gamma-gamma"
    bayesian: bool = False
    penalizer: float = 0.0
    method: str = "nuts"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int | None = None

    def check(self, hint: Callable[[str], str]) -> None:
        """Refuse values the models would refuse, before any work (``hint`` names the option
        or config key of a field)."""
        allowed = {"model": _batch.TRANSACTION_MODELS, "spend": _batch.SPEND_CHOICES,
                   "method": BAYES_METHODS}
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise typer.BadParameter(present.not_one_of(getattr(self, name), values),
                                         param_hint=hint(name))
        for name, least in (("penalizer", 0), ("draws", 1), ("tune", 0), ("chains", 1)):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= least):
                raise typer.BadParameter(f"must be >= {least}, got {value}",
                                         param_hint=hint(name))

    def as_dict(self) -> dict[str, Any]:
        settings = {"model": self.model, "spend": self.spend, "bayesian": self.bayesian}
        if self.bayesian:
            settings.update(method=self.method, draws=self.draws, chains=self.chains,
                            seed=self.seed)
            if self.method == "nuts":  # MAP does not tune
                settings["tune"] = self.tune
        else:
            settings["penalizer"] = self.penalizer
        return settings


def fit_models(
    rfm: pd.DataFrame, settings: FitSettings, source: str, reporter: Reporter
) -> ModelDirectory:
    """Fit the purchase-count and spend models (no spend model with ``--spend none``) to an
    RFM table."""
    counts_only = settings.spend == _batch.NO_SPEND_MODEL
    check_rfm_columns(rfm, source, spend=not counts_only)
    models = []
    fit_warnings: list[str] = []
    to_fit = [(settings.model, False)] + ([] if counts_only else [(settings.spend, True)])
    for name, spend in to_fit:
        model_class = _batch.model_class(name, bayesian=settings.bayesian, spend=spend)
        if settings.bayesian:
            model = model_class()
            options = dict(method=settings.method, draws=settings.draws, tune=settings.tune,
                           chains=settings.chains, random_seed=settings.seed,
                           progressbar=reporter.shows_progress)
        else:
            model = model_class(penalizer=settings.penalizer)
            options = {}
        label = f"Fitting {model_class.__name__} to {len(rfm):,} customers"
        with (
            reporter.step(label, live=not settings.bayesian),
            _user_errors(f"fitting {name}", values=False),
            _warnings_as_notes(reporter, fit_warnings),
        ):
            models.append(model.fit(rfm, **options))
    manifest = _batch.new_manifest(
        model=settings.model, spend=settings.spend, bayesian=settings.bayesian,
        time_unit=rfm.attrs["time_unit"], fit={**settings.as_dict(), "warnings": fit_warnings},
        data={**rfm.attrs.get("metadata", {}), "rfm_path": source, "n_customers": len(rfm)},
    )
    return ModelDirectory(models[0], None if counts_only else models[1], manifest)


def load_models(path: Path, reporter: Reporter) -> ModelDirectory:
    models = ModelDirectory.load(path)
    written_by = models.manifest.get("package_version")
    if written_by != package_version():
        reporter.note(f"{path} was written by clvmodels {written_by}; this is {package_version()}")
    return models


def load_rfm(
    path: Path, models: ModelDirectory | None = None, time_unit: str | None = None,
    spend: bool = True,
) -> pd.DataFrame:
    """Read an RFM table for fit/predict/report, checking it against the models' time unit
    (``monetary_value`` is needed when ``spend`` or the models have a spend model)."""
    with _user_errors(f"reading {path}"):
        rfm = _batch.read_rfm(path, time_unit=time_unit,
                              default_time_unit=models.time_unit if models else None)
    if models is not None and rfm.attrs["time_unit"] != models.time_unit:
        raise DataError(
            f"the models were fitted in time unit {models.time_unit!r} but RFM file {path} is "
            f"in {rfm.attrs['time_unit']!r}; summarize with --time-unit {models.time_unit}"
        )
    if models is not None:
        spend = models.spend_model is not None
    check_rfm_columns(rfm, str(path), spend=spend)
    return rfm


def check_values(settings: ValueSettings,
                 hint: Callable[[str], str] = lambda name: f"--{name.replace('_', '-')}"
                 ) -> None:
    """Refuse values the valuation would refuse, before any work (``hint`` names the option or
    config key of a field)."""
    try:
        settings.check()
    except ValueError as error:
        field, message = str(error).split(": ", 1)
        raise typer.BadParameter(message, param_hint=hint(field)) from None


def score_customers(
    models: ModelDirectory, rfm: pd.DataFrame, settings: ValueSettings, reporter: Reporter
) -> Scores:
    """Every customer's scores (see :mod:`clvmodels.scoring`), with progress."""
    if models.spend_model is None and settings.margin != 1.0:
        reporter.note("the margin is not used: the models have no spend model")
    spend = models.spend_model is not None
    total = scoring.score_parts(spend, settings.horizon) + spend
    with (reporter.step(f"Scoring {len(rfm):,} customers", total=total) as advance,
          _user_errors("scoring")):
        return scoring.score_customers(models.transaction_model, models.spend_model, rfm,
                                       settings, progress=advance)


def write_scores(scores: Scores, path: Path, models: ModelDirectory, rfm_path: str) -> None:
    metadata = {"format": "clvmodels.scores", "package_version": package_version(),
                "model": models.manifest["transaction_model"]["class"],
                "spend_model": (models.manifest["spend_model"] or {}).get("class"),
                "rfm_path": rfm_path, **scores.settings}
    _batch.write_table(scores.table, path, metadata=metadata, csv_metadata=False)


def print_equity(scores: Scores, reporter: Reporter) -> None:
    """The customer equity (revenue or profit, as the margin says) and its table by CLV decile;
    expected purchases instead without a spend model."""
    equity, settings = scores.equity, scores.settings
    if equity is None:
        reporter.line(present.purchases_headline(settings, scores.table))
        return
    interval = getattr(equity, "total_interval", None)
    reporter.line(present.equity_headline(settings, float(equity.total), len(scores.table),
                                          None if interval is None else tuple(interval)))
    reporter.table(present.decile_table(equity.segments),
                   "Equity by CLV decile (1 = most valuable)")


def write_report(
    models: ModelDirectory,
    rfm: pd.DataFrame,
    scores: Scores,
    path: Path,
    reporter: Reporter,
    *,
    transactions: pd.DataFrame | None = None,
    holdout_end: pd.Timestamp | None = None,
    top: int = 20,
) -> None:
    from clvmodels import report

    with (
        reporter.step(f"Writing the report {path}", total=len(report.SECTIONS)) as advance,
        _user_errors("building the report", values=False),
    ):
        html = report.build_report(
            models, rfm, scores, transactions=transactions, holdout_end=holdout_end, top=top,
            progress=advance,
        )
        _batch.write_text(path, html)


# ----------------------------------------------------------------------------- option types
def _time_unit(value: str) -> str:
    try:
        return timeunit.TimeUnit.parse(value).value
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _table_path(value: Path | None) -> Path | None:
    """An output table path with a known extension, checked before any work is done."""
    if value is not None:
        try:
            kind = _batch.table_kind(value)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        if kind == "parquet":
            _batch.require_pyarrow(value)
    return value


def _html_path(value: Path) -> Path:
    if value.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(f"{value}: expected a file name ending in .html")
    return value


def _parse_date(value: str | None, option: str, date_format: str | None = None):
    if value is None:
        return None
    try:
        return parse_end_date(value, date_format)
    except ValidationError as error:  # a date, but its day/month order is ambiguous
        raise typer.BadParameter(_in_cli_terms(str(error)), param_hint=option) from None
    except (ValueError, TypeError) as error:
        raise typer.BadParameter(f"{value!r} is not a date ({error})", param_hint=option) from None


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
TimeUnit = Annotated[
    str, typer.Option("--time-unit", callback=_time_unit,
                      help="Unit of recency, T and horizons: h, D, W, M or Y (or hour, day, ...).")
]
Horizon = Annotated[
    float, typer.Option("--horizon", help="Forecast horizon in the model's time unit (e.g. 52 "
                        "weeks); inf for the whole lifetime (needs --discount-rate).")
]
DiscountRate = Annotated[
    float, typer.Option("--discount-rate", help="Discount rate per YEAR (0.1 = 10%); converted "
                        "to the model's time unit.")
]
Margin = Annotated[float, typer.Option("--margin", help="Share of revenue that is profit.")]
Level = Annotated[float, typer.Option("--level", help="Mass of Bayesian intervals.")]
ModelDir = Annotated[Path, typer.Argument(help="Model directory written by clvmodels fit.")]
RfmFile = Annotated[Path, typer.Argument(help="RFM table (.csv or .parquet) from summarize.")]


# ----------------------------------------------------------------------------- commands
@_command
def summarize(
    transactions: Annotated[Path, typer.Argument(help="Transaction log, .csv(.gz) or .parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", callback=_table_path,
                                         help="RFM table to write (.csv or .parquet).")],
    customer_col: Annotated[str, typer.Option(help="Customer id column.")] = "customer_id",
    date_col: Annotated[str, typer.Option(help="Purchase date column.")] = "date",
    amount_col: Annotated[str, typer.Option(help="Spend column.")] = "amount",
    no_amount: Annotated[bool, typer.Option("--no-amount",
                                            help="No spend column: counts only.")] = False,
    date_format: Annotated[str | None, typer.Option(
        help="strftime layout of the dates, e.g. %Y%m%d or %d/%m/%Y (default: ISO and what "
        "pandas reads; needed when the day/month order is ambiguous).")
    ] = None,
    observation_end: Annotated[str | None, typer.Option(
        help="Last day of the observation (default: the last purchase); later purchases are "
        "left out with a note.")] = None,
    time_unit: TimeUnit = "W",
    engine: Annotated[str, typer.Option(
        callback=present.choice(*ENGINES), metavar=present.choice_metavar(*ENGINES),
        help="pandas (in memory) or duckdb (reads the file out of core; clvmodels[fast]).")
    ] = "pandas",
    quiet: Quiet = False,
) -> None:
    """Summarize a transaction log into one RFM row per customer."""
    reporter = Reporter(quiet)
    settings = SummarizeSettings(
        customer_col=customer_col, date_col=date_col,
        amount_col=None if no_amount else amount_col, date_format=date_format,
        observation_end=observation_end, time_unit=time_unit, engine=engine,
    )
    _parse_date(observation_end, "--observation-end", date_format)
    rfm, _ = _summarize_file(transactions, settings, reporter)
    _batch.write_table(rfm, output, metadata=rfm.attrs["metadata"])
    _print_rfm(rfm, reporter, output)


def _summarize_file(
    path: Path, settings: SummarizeSettings, reporter: Reporter
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The RFM table of a transaction file, and the log read (None with DuckDB)."""
    if settings.engine == "duckdb":
        _batch.check_readable(path, "transactions")
        _batch.require_duckdb()
        with reporter.step(f"Summarizing {path} with DuckDB"):
            return summarize_transactions(path, settings, reporter), None
    with reporter.step(f"Reading {path}"):
        log = read_transactions(path, settings)
    # Not "N transactions": those after the observation end are left out (see _print_rfm).
    window = f" up to {settings.observation_end}" if settings.observation_end else ""
    with reporter.step(f"Summarizing the transactions{window}"):
        return summarize_transactions(log, settings, reporter), log


def _print_rfm(rfm: pd.DataFrame, reporter: Reporter, output: Path) -> None:
    meta = rfm.attrs["metadata"]
    repeat = (rfm["frequency"] > 0).mean()
    reporter.line(
        f"{len(rfm):,} customers from {present.transactions_used(meta)}, "
        f"{meta['transactions']['first_date'][:10]} to {meta['observation_end'][:10]} "
        f"(in {present.unit_plural(rfm.attrs['time_unit'])}; {repeat:.0%} repeat buyers) "
        f"-> {output}"
    )


@_command
def fit(
    rfm: RfmFile,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    model: Annotated[str, typer.Option(
        "--model", "-m", callback=present.choice(*_batch.TRANSACTION_MODELS),
        metavar=present.choice_metavar(*_batch.TRANSACTION_MODELS),
        help="Purchase-count model: BG/NBD or Pareto/NBD.")] = "bgnbd",
    spend: Annotated[str, typer.Option(
        callback=present.choice(*_batch.SPEND_CHOICES),
        metavar=present.choice_metavar(*_batch.SPEND_CHOICES),
        help="Spend model; none: purchase counts only (an RFM file without monetary_value; "
        "predict then writes no value columns).")] = "gamma-gamma",
    bayesian: Annotated[bool, typer.Option(
        "--bayesian", help="Fit the Bayesian variants (needs clvmodels[bayes]).")] = False,
    penalizer: Annotated[float, typer.Option(help="L2 penalty (maximum likelihood).")] = 0.0,
    method: Annotated[str, typer.Option(
        callback=present.choice(*BAYES_METHODS), metavar=present.choice_metavar(*BAYES_METHODS),
        help="Bayesian: nuts (sampling) or map.")] = "nuts",
    draws: Annotated[int, typer.Option(min=1, help="Bayesian: draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(min=0, help="Bayesian: tuning steps per chain.")] = 1000,
    chains: Annotated[int, typer.Option(min=1, help="Bayesian: chains.")] = 4,
    seed: Annotated[int | None, typer.Option(help="Bayesian: random seed.")] = None,
    time_unit: Annotated[str | None, typer.Option(
        "--time-unit", help="Time unit of an RFM file not written by summarize.")] = None,
    quiet: Quiet = False,
) -> None:
    """Fit a purchase-count model and a spend model; write them to a model directory."""
    reporter = Reporter(quiet)
    settings = FitSettings(
        model=model, spend=spend, bayesian=bayesian, penalizer=penalizer,
        method=method, draws=draws, tune=tune, chains=chains, seed=seed,
    )
    settings.check(lambda name: f"--{name}")
    table = load_rfm(rfm, time_unit=_time_unit(time_unit) if time_unit else None,
                     spend=spend != _batch.NO_SPEND_MODEL)
    models = fit_models(table, settings, str(rfm), reporter)
    _save_models(models, output, reporter)
    _print_parameters(models, reporter)


def _save_models(models: ModelDirectory, output: Path, reporter: Reporter) -> None:
    with reporter.step(f"Writing {output}"):
        models.save(output)


def _print_parameters(models: ModelDirectory, reporter: Reporter) -> None:
    for role in _batch.MODEL_ROLES:
        model = getattr(models, role)
        if model is None:  # --spend none
            continue
        title = f"{type(model).__name__} parameters"
        likelihood = getattr(model, "log_likelihood_", None)
        if likelihood is not None and not math.isnan(likelihood):
            title += f" (log-likelihood {likelihood:,.1f})"
        summary = model.summary()
        # ArviZ's summary is wide: the Monte Carlo errors and tail ESS stay in the report.
        shown = [c for c in summary.columns if not c.startswith(("mcse", "ess_tail"))]
        reporter.table(summary[shown], title)


@_command
def predict(
    model: ModelDir,
    rfm: RfmFile,
    output: Annotated[Path, typer.Option("--output", "-o", callback=_table_path,
                                         help="Scores to write (.csv or .parquet).")],
    horizon: Horizon,
    discount_rate: DiscountRate = 0.0,
    margin: Margin = 1.0,
    level: Level = 0.9,
    quiet: Quiet = False,
) -> None:
    """Score every customer: P(alive), expected purchases and spend, CLV, CLV decile."""
    reporter = Reporter(quiet)
    settings = ValueSettings(horizon, discount_rate, margin, level)
    check_values(settings)
    models = load_models(model, reporter)
    table = load_rfm(rfm, models)
    scores = score_customers(models, table, settings, reporter)
    with reporter.step(f"Writing {output}"):
        write_scores(scores, output, models, str(rfm))
    print_equity(scores, reporter)


@_command
def report(
    model: ModelDir,
    rfm: RfmFile,
    output: Annotated[Path, typer.Option("--output", "-o", callback=_html_path,
                                         help="HTML report to write.")],
    horizon: Horizon,
    discount_rate: DiscountRate = 0.0,
    margin: Margin = 1.0,
    level: Level = 0.9,
    transactions: Annotated[Path | None, typer.Option(
        help="The transaction log (read with the columns summarize recorded): adds the "
        "tracking plot.")] = None,
    holdout: Annotated[str | None, typer.Option(
        help="End date of a holdout period after the RFM's observation end: compares the "
        "predictions with the purchases in --transactions up to it.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Customers in the top-customers table.")] = 20,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report: customer equity, segments, fit diagnostics."""
    reporter = Reporter(quiet)
    settings = ValueSettings(horizon, discount_rate, margin, level)
    check_values(settings)
    if holdout is not None and transactions is None:
        raise typer.BadParameter("needs --transactions (the log holding the holdout purchases)",
                                 param_hint="--holdout")
    models = load_models(model, reporter)
    table = load_rfm(rfm, models)
    log = None
    holdout_end = None
    if transactions is not None:
        summary = SummarizeSettings(**_transaction_columns(table))
        holdout_end = _parse_date(holdout, "--holdout", summary.date_format)
        _check_holdout_end(holdout_end, table, "--holdout")
        with reporter.step(f"Reading {transactions}"):
            log = read_transactions(transactions, summary)
    scores = score_customers(models, table, settings, reporter)
    write_report(models, table, scores, output, reporter, transactions=log,
                 holdout_end=holdout_end, top=top)
    reporter.line(f"Report written to {output}")


def _check_holdout_end(holdout_end: pd.Timestamp | None, rfm: pd.DataFrame, option: str) -> None:
    """A holdout has to end after the observation end of the RFM table."""
    if holdout_end is None:
        return
    if rfm.attrs.get("observation_end") is None:
        raise DataError("the RFM file does not record its observation end (write it with "
                        f"clvmodels summarize), so {option} has no start")
    calibration_end = pd.Timestamp(rfm.attrs["observation_end"])  # an ISO string in attrs
    if holdout_end.normalize() <= calibration_end.normalize():
        raise typer.BadParameter(
            f"{holdout_end:%Y-%m-%d} is not after the RFM's observation end "
            f"{calibration_end:%Y-%m-%d}", param_hint=option)


def _transaction_columns(rfm: pd.DataFrame) -> dict[str, Any]:
    """The column settings summarize used, from the RFM metadata (defaults without it)."""
    recorded = rfm.attrs.get("metadata", {}).get("transactions", {})
    names = ("customer_col", "date_col", "amount_col", "date_format")
    return {name: recorded[name] for name in names if name in recorded}


# ----------------------------------------------------------------------------- run and demo
_CONFIG_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "data": {
        "transactions": (str, _REQUIRED), "customer_col": (str, "customer_id"),
        # amount_col defaults to "amount", or to none (counts only) with [model] spend = "none"
        "date_col": (str, "date"), "amount_col": (str, None), "date_format": (str, None),
        "observation_end": (str, None), "time_unit": (str, "W"), "engine": (str, "pandas"),
    },
    "model": {
        "model": (str, "bgnbd"), "spend": (str, "gamma-gamma"), "bayesian": (bool, False),
        "penalizer": ((int, float), 0.0), "method": (str, "nuts"), "draws": (int, 1000),
        "tune": (int, 1000), "chains": (int, 4), "seed": (int, None),
    },
    "predict": {
        "horizon": ((int, float), _REQUIRED), "discount_rate": ((int, float), 0.0),
        "margin": ((int, float), 1.0), "level": ((int, float), 0.9),
    },
    "report": {"holdout_end": (str, None), "top": (int, 20)},
    "output": {
        "directory": (str, "."), "rfm": (str, "rfm.csv"), "model": (str, "model"),
        "scores": (str, "scores.csv"), "report": (str, "report.html"),
    },
}


def read_config(path: Path) -> dict[str, dict[str, Any]]:
    """A ``run`` config with every key checked and defaults filled in.

    Raises
    ------
    InputFileError
        If the file is missing.
    typer.BadParameter
        For TOML syntax errors, unknown sections or keys, wrong types or missing keys.
    """
    if not path.is_file():
        raise InputFileError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise typer.BadParameter(f"{path}: {error}", param_hint="CONFIG") from None
    config: dict[str, dict[str, Any]] = {}
    unknown = sorted(set(raw) - set(_CONFIG_SCHEMA))
    if unknown:
        raise typer.BadParameter(
            f"{path}: unknown section(s) {unknown}; expected {list(_CONFIG_SCHEMA)}",
            param_hint="CONFIG")
    for section, keys in _CONFIG_SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise typer.BadParameter(f"{path}: [{section}] must be a table", param_hint="CONFIG")
        unknown = sorted(set(given) - set(keys))
        if unknown:
            raise typer.BadParameter(
                f"{path}: unknown key(s) {unknown} in [{section}]; expected some of {list(keys)}",
                param_hint="CONFIG")
        values = {}
        for key, (kind, default) in keys.items():
            if key not in given:
                if default is _REQUIRED:
                    raise typer.BadParameter(f"{path}: [{section}] needs {key} = ...",
                                             param_hint="CONFIG")
                values[key] = default
                continue
            value = given[key]
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                expected = kind.__name__ if isinstance(kind, type) else "a number"
                raise typer.BadParameter(
                    f"{path}: [{section}] {key} = {value!r} should be {expected}",
                    param_hint="CONFIG")
            values[key] = value
        config[section] = values
    return config


def run_pipeline(config: dict[str, dict[str, Any]], base: Path, reporter: Reporter) -> dict:
    """summarize -> fit -> predict -> report as one job; paths relative to ``base``.

    Returns the paths written, by output name.
    """
    data, fit_config, value_config = config["data"], config["model"], config["predict"]
    out = config["output"]
    directory = base / out["directory"]
    paths = {name: directory / out[name] for name in ("rfm", "model", "scores", "report")}
    for name in ("rfm", "scores"):
        _table_path(paths[name])
    _html_path(paths["report"])
    fit_settings = FitSettings(**fit_config)
    fit_settings.check(lambda key: f"[model] {key}")
    if data["engine"] not in ENGINES:
        raise typer.BadParameter(present.not_one_of(data["engine"], ENGINES),
                                 param_hint="[data] engine")
    amount_col = data["amount_col"]
    if amount_col is None and fit_settings.spend != _batch.NO_SPEND_MODEL:
        amount_col = "amount"
    settings = SummarizeSettings(
        **{key: data[key] for key in ("customer_col", "date_col", "date_format",
                                      "observation_end", "engine")},
        amount_col=amount_col, time_unit=_time_unit(data["time_unit"]),
    )
    _parse_date(data["observation_end"], "observation_end", data["date_format"])
    holdout_end = _parse_date(config["report"]["holdout_end"], "holdout_end", data["date_format"])
    values = ValueSettings(**value_config)
    check_values(values, lambda key: f"[predict] {key}")
    transactions_path = base / data["transactions"]
    rfm, log = _summarize_file(transactions_path, settings, reporter)
    _check_holdout_end(holdout_end, rfm, "holdout_end")
    _batch.write_table(rfm, paths["rfm"], metadata=rfm.attrs["metadata"])
    models = fit_models(rfm, fit_settings, str(paths["rfm"]), reporter)
    _save_models(models, paths["model"], reporter)
    _print_parameters(models, reporter)
    scores = score_customers(models, rfm, values, reporter)
    with reporter.step(f"Writing {paths['scores']}"):
        write_scores(scores, paths["scores"], models, str(paths["rfm"]))
    print_equity(scores, reporter)
    if log is None:  # summarised out of core; the report's plots need it in memory
        with reporter.step(f"Reading {transactions_path} for the report"):
            log = read_transactions(transactions_path, settings)
    write_report(models, rfm, scores, paths["report"], reporter, transactions=log,
                 holdout_end=holdout_end, top=config["report"]["top"])
    return paths


@_command
def run(
    config: Annotated[Path, typer.Argument(help="TOML config file (see clvmodels demo).")],
    quiet: Quiet = False,
) -> None:
    """Run summarize, fit, predict and report from one config file (for scheduled jobs)."""
    reporter = Reporter(quiet)
    paths = run_pipeline(read_config(config), config.parent, reporter)
    _print_outputs(paths, reporter)


def _print_outputs(paths: dict[str, Path], reporter: Reporter) -> None:
    reporter.line("Wrote " + ", ".join(f"{name} {path}" for name, path in paths.items()))


DEMO_CONFIG = """\
# clvmodels run configuration (written by clvmodels demo). Paths are relative to this file.
[data]
transactions = "transactions.csv"   # one row per purchase
customer_col = "customer_id"
date_col = "date"
amount_col = "amount"
observation_end = "1997-09-30"      # calibrate on the first 39 weeks
time_unit = "W"

[model]
model = "bgnbd"                     # or "pnbd"
spend = "gamma-gamma"               # or "none": purchase counts only (no amount column)
bayesian = false                    # true: PyMC (needs clvmodels[bayes]); method, draws, ...

[predict]
# horizon in time units (weeks); the discount rate is per year
horizon = {horizon}
discount_rate = 0.10
margin = 1.0                        # share of revenue that is profit (1.0: equity is revenue)

[report]
holdout_end = "1998-06-30"          # compare the forecast with the later purchases
top = 20

[output]
directory = "output"
rfm = "rfm.csv"
model = "model"
scores = "scores.csv"
report = "report.html"
"""


@_command
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the demo's files.")] = (
        Path("clvmodels-demo")
    ),
    # An int default, so that --help shows 52, not 52.0.
    horizon: Annotated[float, typer.Option(help="Weeks to value.")] = 52,
    quiet: Quiet = False,
) -> None:
    """Run the whole pipeline on the bundled CDNOW sample (writes a config you can rerun)."""
    from clvmodels.datasets import load_cdnow_transactions

    reporter = Reporter(quiet)
    if not horizon > 0:
        raise typer.BadParameter(f"must be > 0, got {horizon}", param_hint="--horizon")
    log = load_cdnow_transactions(sample=True)[["customer_id", "date", "amount"]]
    _batch.write_table(log.set_index("customer_id"), output / "transactions.csv")
    config_path = output / "clvmodels.toml"
    _batch.write_text(config_path, DEMO_CONFIG.replace("{horizon}", f"{horizon:g}"))
    reporter.line(
        f"CDNOW sample: {len(log):,} transactions by {log['customer_id'].nunique():,} customers "
        "(published BG/NBD fit to 1997-09-30: r 0.243, alpha 4.414, a 0.793, b 2.426)"
    )
    paths = run_pipeline(read_config(config_path), output, reporter)
    _print_outputs(paths, reporter)
    reporter.line(f"Rerun with: clvmodels run {config_path}; open {paths['report']} in a browser.")


# ----------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (see :data:`EXIT_CODES`).

    Errors the user can fix are printed as one line on stderr; set ``CLVMODELS_DEBUG=1`` to
    get their tracebacks too. Anything else is a bug and keeps its traceback (exit code 1).
    """
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="clvmodels", standalone_mode=False)
    except BatchError as error:
        return _fail(error, str(error), error.exit_code)
    except typer.TyperException as error:  # usage errors: unknown option, bad value ...
        context = getattr(error, "ctx", None)
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        return _fail(error, error.format_message() + hint, error.exit_code or _batch.EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt) as error:
        return _fail(error, "interrupted", 130)
    return result if isinstance(result, int) else _batch.EXIT_OK


def _fail(error: BaseException, message: str, code: int) -> int:
    if os.environ.get("CLVMODELS_DEBUG", "") not in ("", "0"):
        raise error
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"clvmodels: error: {' '.join(message.split())}", markup=False
    )
    return code


__all__ = ["EXIT_CODES", "app", "main"]

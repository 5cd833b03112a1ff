"""The steps the commands chain: read and summarize a log, fit, load, score, write.

Each step takes its settings as a dataclass (filled from the options of a command or from a
``run`` config) and a :class:`~clvmodels.cli.console.Reporter` for progress; errors the user
can fix are raised as the batch errors of :mod:`clvmodels.errors`.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from clvmodels import presentation as present
from clvmodels import scoring
from clvmodels.cli.console import Reporter, user_errors, warnings_as_notes
from clvmodels.cli.covariates import CovariateSettings
from clvmodels.cli.options import BAYES_METHODS, not_one_of, parse_date
from clvmodels.engines.discrete import check_period
from clvmodels.errors import BatchError, DataError
from clvmodels.estimation.base import package_version
from clvmodels.files import manifest as model_files
from clvmodels.files import tables
from clvmodels.files.atomic import Staging, write_text
from clvmodels.files.model_directory import ModelDirectory
from clvmodels.files.model_directory import model_class as estimator_class
from clvmodels.rfm import discrete_rfm_summary, rfm_summary
from clvmodels.scoring import Scores, ValueSettings
from clvmodels.timeunit import TimeUnit

RFM_COLUMNS = ("frequency", "recency", "T", "monetary_value")


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
    encoding: str = "utf-8"
    timezone: str | None = None
    #: Calendar periods of a discrete-time summary (for the BG/BB), or None: continuous time.
    period: str | None = None

    def check(self, hint: Callable[[str], str]) -> None:
        """Refuse settings the engine cannot follow, before any work (``hint`` names the
        option or config key of a field)."""
        if self.period is not None:
            try:
                check_period(self.period)
            except ValueError as error:
                raise typer.BadParameter(str(error), param_hint=hint("period")) from None
            if self.engine != "pandas":
                raise typer.BadParameter(
                    f"a discrete-time summary (--period) runs on the pandas engine, not "
                    f"{self.engine}", param_hint=hint("engine"))
        if self.engine == "duckdb" and codecs.lookup(self.encoding).name != "utf-8":
            raise typer.BadParameter(
                f"the duckdb engine reads UTF-8 files only, not {self.encoding}; summarize "
                "with the pandas engine", param_hint=hint("encoding"))


def read_transactions(path: Path, settings: SummarizeSettings) -> pd.DataFrame:
    """A checked transaction log with parsed dates, from CSV or Parquet.

    CSV ids and dates are read as text (ids such as ``00123`` keep their zeros; dates are
    parsed with ``--date-format``). ``attrs["columns"]`` names the customer and date columns
    (for the report's plots) and ``attrs["source"]`` the file. With the DuckDB engine,
    DuckDB reads the file (only the columns of the settings), as it does to summarize it.
    """
    from clvmodels.validation import check_transactions

    text = (settings.customer_col, settings.date_col)
    if settings.engine == "duckdb":
        columns = (*text, *([settings.amount_col] if settings.amount_col else []))
        log = tables.read_with_duckdb(path, columns, role="transactions")
    else:
        log, _ = tables.read_table(path, role="transactions", text_columns=text,
                                   encoding=settings.encoding)
    with user_errors(f"reading {path}"):
        dates = check_transactions(
            log, customer_col=settings.customer_col, date_col=settings.date_col,
            amount_col=settings.amount_col, date_format=settings.date_format,
            timezone=settings.timezone,
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
    with user_errors(f"summarizing {source}"), warnings_as_notes(reporter):
        end = (
            None if settings.observation_end is None
            else parse_date(settings.observation_end, "observation_end", settings.date_format)
        )
        if settings.period is not None:  # in memory: check() allows the pandas engine only
            rfm = discrete_rfm_summary(
                log, customer_col=settings.customer_col, date_col=settings.date_col,
                amount_col=settings.amount_col, observation_end=end, period=settings.period,
                date_format=settings.date_format, timezone=settings.timezone,
            )
        else:
            rfm = rfm_summary(
                str(log) if isinstance(log, Path) else log, customer_col=settings.customer_col,
                date_col=settings.date_col, amount_col=settings.amount_col,
                observation_end=end, time_unit=settings.time_unit,
                date_format=settings.date_format, engine=settings.engine,
                timezone=settings.timezone,
            )
    if isinstance(log, Path):  # the log never was in memory: its first day from the ages T
        days = rfm["T"].max() * TimeUnit.parse(rfm.attrs["time_unit"]).days
        end_day = pd.Timestamp(rfm.attrs["observation_end"]).normalize()
        first = end_day - pd.Timedelta(days=round(days))
        n_rows = rfm.attrs["n_transactions"] + rfm.attrs["n_transactions_excluded"]
        described = {"n_rows": n_rows, "first_date": first.isoformat(), "last_date": None}
    else:
        dates = log[settings.date_col]
        described = {"n_rows": len(log), "first_date": dates.min().isoformat(),
                     "last_date": dates.max().isoformat()}
    rfm.attrs["metadata"] = tables.rfm_metadata(
        rfm,
        transactions={
            "path": source,
            **described,
            "customer_col": settings.customer_col,
            "date_col": settings.date_col,
            "amount_col": settings.amount_col,
            "date_format": settings.date_format,
            "engine": settings.engine,
            "encoding": settings.encoding,
            "timezone": settings.timezone,
        },
    )
    return rfm


def check_rfm_columns(rfm: pd.DataFrame, source: str, *, spend: bool = True,
                      columns: tuple[str, ...] = RFM_COLUMNS[:-1]) -> None:
    """The columns fit/predict/report need: the purchase model's ``columns`` (frequency,
    recency and T; periods instead of T in discrete time) and ``monetary_value`` with a
    spend model, named in command-line terms."""
    needed = (*columns, *RFM_COLUMNS[-1:]) if spend else columns
    missing = [column for column in needed if column not in rfm.columns]
    if missing:
        hint = ""
        if missing == ["monetary_value"]:
            hint = (" (summarize with --amount-col naming the spend column, or fit with "
                    "--spend none for purchase counts only)")
        elif {"frequency", "recency"} <= set(missing):
            hint = (" (a contract table or subscription log? fit it with a contractual "
                    "model: --model sbg or bdw)")
        elif "periods" in missing and "T" in rfm.columns:
            hint = (" (the bgbb model is in discrete time: it needs a summary in calendar "
                    "periods, summarize --period Y (or M, W, D))")
        elif "T" in missing and "periods" in rfm.columns:
            hint = " (a discrete-time summary, in calendar periods: fit it with --model bgbb)"
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

    def check(self, hint: Callable[[str], str],
              models: tuple[str, ...] = model_files.TRANSACTION_MODELS) -> None:
        """Refuse values the models would refuse, before any work (``hint`` names the option
        or config key of a field; ``models`` are the models the caller fits)."""
        allowed = {"model": models, "spend": model_files.SPEND_CHOICES,
                   "method": BAYES_METHODS}
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise typer.BadParameter(not_one_of(getattr(self, name), values),
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


def new_estimator(model_class: type, settings: FitSettings, reporter: Reporter,
                  covariates: dict[str, list[str]] | None = None) -> tuple[Any, dict[str, Any]]:
    """An unfitted ``model_class`` and the options of its ``fit``, from the fit settings
    (``covariates``: the estimator's ``<process>_covariates`` keywords, checked by
    :meth:`CovariateSettings.check`)."""
    if settings.bayesian:
        return model_class(**(covariates or {})), dict(
            method=settings.method, draws=settings.draws, tune=settings.tune,
            chains=settings.chains, random_seed=settings.seed,
            progressbar=reporter.shows_progress)
    return model_class(penalizer=settings.penalizer, **(covariates or {})), {}


def fit_models(
    rfm: pd.DataFrame, settings: FitSettings, source: str, reporter: Reporter,
    covariates: CovariateSettings | None = None,
    purchase_fit: dict[str, Any] | None = None,
) -> ModelDirectory:
    """Fit the purchase-count and spend models (no spend model with ``--spend none``) to an
    RFM table (holding the ``covariates``' columns, when there are any); ``purchase_fit``:
    more keywords of the purchase model's ``fit`` (time-varying covariates)."""
    covariates = covariates or CovariateSettings()
    counts_only = settings.spend == model_files.NO_SPEND_MODEL
    check_rfm_columns(rfm, source, spend=not counts_only,
                      columns=purchase_columns(settings.model))
    models = []
    fit_warnings: list[str] = []
    to_fit = [(settings.model, False)] + ([] if counts_only else [(settings.spend, True)])
    for name, spend in to_fit:
        model_class = estimator_class(name, bayesian=settings.bayesian, spend=spend)
        model, options = new_estimator(model_class, settings, reporter,
                                       covariates.estimator_options(spend))
        label = f"Fitting {model_class.__name__} to {len(rfm):,} customers"
        with (
            reporter.step(label, live=not settings.bayesian),
            user_errors(f"fitting {name}", values=False),
            warnings_as_notes(reporter, fit_warnings),
        ):
            models.append(model.fit(rfm, **options, **({} if spend else purchase_fit or {})))
    manifest = model_files.new_manifest(
        model=settings.model, spend=settings.spend, bayesian=settings.bayesian,
        time_unit=rfm.attrs["time_unit"], fit={**settings.as_dict(), "warnings": fit_warnings},
        data={**rfm.attrs.get("metadata", {}), "rfm_path": source, "n_customers": len(rfm),
              **({"covariates_path": str(covariates.path)} if covariates.path else {})},
    )
    return ModelDirectory(models[0], None if counts_only else models[1], manifest)


def load_models(path: Path, reporter: Reporter) -> ModelDirectory:
    """The model directory at ``path``, with a note if another clvmodels version wrote it."""
    models = ModelDirectory.load(path)
    written_by = models.manifest.get("package_version")
    if written_by != package_version():
        reporter.note(f"{path} was written by clvmodels {written_by}; this is {package_version()}")
    return models


def purchase_columns(model: str) -> tuple[str, ...]:
    """The RFM columns the purchase-count model of a command-line name reads."""
    return estimator_class(model, bayesian=False, spend=False).family.rfm_columns


def load_rfm(
    path: Path, models: ModelDirectory | None = None, time_unit: str | None = None,
    spend: bool = True, model: str | None = None,
) -> pd.DataFrame:
    """Read an RFM table for fit/predict/report, checking it against the models' time unit
    and the columns of their purchase model (or of ``model``, a command-line name;
    ``monetary_value`` is needed when ``spend`` or the models have a spend model)."""
    with user_errors(f"reading {path}"):
        rfm = tables.read_rfm(path, time_unit=time_unit,
                              default_time_unit=models.time_unit if models else None)
    if models is not None and rfm.attrs["time_unit"] != models.time_unit:
        raise DataError(
            f"the models were fitted in time unit {models.time_unit!r} but RFM file {path} is "
            f"in {rfm.attrs['time_unit']!r}; summarize with --time-unit {models.time_unit}"
        )
    columns = RFM_COLUMNS[:-1] if model is None else purchase_columns(model)
    if models is not None:
        spend = models.spend_model is not None
        columns = models.transaction_model.family.rfm_columns
    check_rfm_columns(rfm, str(path), spend=spend, columns=columns)
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
    models: ModelDirectory, rfm: pd.DataFrame, settings: ValueSettings, reporter: Reporter,
    periods: pd.DataFrame | None = None,
) -> Scores:
    """Every customer's scores (see :mod:`clvmodels.scoring`), with progress; ``periods``:
    the covariate table of a purchase model fitted with time-varying covariates."""
    if models.spend_model is None and settings.margin != 1.0:
        reporter.note("the margin is not used: the models have no spend model")
    spend = models.spend_model is not None
    total = scoring.score_parts(spend, settings.horizon) + spend
    with (reporter.step(f"Scoring {len(rfm):,} customers", total=total) as advance,
          user_errors("scoring")):
        purchase_model = models.transaction_model
        if periods is not None:  # predictions over the periods of the horizon
            purchase_model = purchase_model.with_time_varying_covariates(periods)
        return scoring.score_customers(purchase_model, models.spend_model, rfm, settings,
                                       progress=advance)


def write_scores(scores: Scores, path: Path, models: ModelDirectory, rfm_path: str,
                 staging: Staging | None = None) -> None:
    """The scores as a table (Parquet files record the settings and models in their schema),
    staged in ``staging`` when given."""
    metadata = {"format": "clvmodels.scores", "package_version": package_version(),
                "model": models.manifest["transaction_model"]["class"],
                "spend_model": (models.manifest["spend_model"] or {}).get("class"),
                "rfm_path": rfm_path, **scores.settings}
    tables.write_table(scores.table, path, metadata=metadata, csv_metadata=False,
                       staging=staging)


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
    staging: Staging | None = None,
    periods: pd.DataFrame | None = None,
) -> None:
    """Build the HTML report (with a progress bar over its sections) and write it (staged in
    ``staging`` when given; ``periods``: the covariate table of a fit with time-varying
    covariates)."""
    from clvmodels import report  # matplotlib: imported only when a report is made

    with (
        reporter.step(f"Writing the report {path}", total=len(report.SECTIONS)) as advance,
        user_errors("building the report", values=False),
    ):
        html = report.build_report(
            models, rfm, scores, transactions=transactions, holdout_end=holdout_end, top=top,
            progress=advance, time_varying_covariates=periods,
        )
        write_text(path, html, staging)


def summarize_file(
    path: Path, settings: SummarizeSettings, reporter: Reporter
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The RFM table of a transaction file, and the log read (None with DuckDB)."""
    if settings.engine == "duckdb":
        tables.check_readable(path, "transactions")
        tables.require_duckdb()
        with reporter.step(f"Summarizing {path} with DuckDB"), _unreadable(path):
            return summarize_transactions(path, settings, reporter), None
    with reporter.step(f"Reading {path}"):
        log = read_transactions(path, settings)
    # Not "N transactions": those after the observation end are left out (see print_rfm).
    window = f" up to {settings.observation_end}" if settings.observation_end else ""
    with reporter.step(f"Summarizing the transactions{window}"):
        return summarize_transactions(log, settings, reporter), log


@contextmanager
def _unreadable(path: Path) -> Iterator[None]:
    """What the DuckDB engine raises about a file it cannot read (an OSError, or DuckDB's own
    error for a broken gzip stream, Parquet footer or bytes that are not UTF-8), as one
    line: exit code 4, like the pandas engine's "not a readable CSV file"."""
    import duckdb

    try:
        yield
    except BatchError:
        raise
    except (OSError, duckdb.Error) as error:
        raise tables.unreadable_by_duckdb(path, "transactions", error) from None


def print_rfm(rfm: pd.DataFrame, reporter: Reporter, output: Path) -> None:
    """The summary line of ``summarize``: customers, transactions used, dates, unit."""
    meta = rfm.attrs["metadata"]
    repeat = (rfm["frequency"] > 0).mean()
    reporter.line(
        f"{len(rfm):,} customers from {present.transactions_used(meta)}, "
        f"{meta['transactions']['first_date'][:10]} to {meta['observation_end'][:10]} "
        f"(in {present.unit_plural(rfm.attrs['time_unit'])}; {repeat:.0%} repeat buyers) "
        f"-> {output}"
    )


def save_models(models: ModelDirectory, output: Path, reporter: Reporter,
                staging: Staging | None = None) -> None:
    """Write the model directory, with progress (staged in ``staging`` when given)."""
    with reporter.step(f"Writing {output}"):
        models.save(output, staging)


def print_parameters(models: ModelDirectory, reporter: Reporter) -> None:
    """The parameter table of each model on stdout."""
    for role in model_files.MODEL_ROLES:
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


def check_holdout_end(holdout_end: pd.Timestamp | None, rfm: pd.DataFrame, option: str) -> None:
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


def transaction_columns(rfm: pd.DataFrame) -> dict[str, Any]:
    """The column settings summarize used, from the RFM metadata (defaults without it)."""
    recorded = rfm.attrs.get("metadata", {}).get("transactions", {})
    names = ("customer_col", "date_col", "amount_col", "date_format", "encoding", "timezone")
    return {name: recorded[name] for name in names if name in recorded}


__all__ = ["RFM_COLUMNS", "FitSettings", "SummarizeSettings", "check_holdout_end",
           "check_rfm_columns", "check_values", "fit_models", "load_models", "load_rfm",
           "new_estimator", "print_equity", "print_parameters", "print_rfm",
           "purchase_columns", "read_transactions", "save_models", "score_customers",
           "summarize_file", "summarize_transactions", "transaction_columns", "write_report",
           "write_scores"]

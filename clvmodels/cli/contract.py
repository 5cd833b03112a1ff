"""The contractual models (sBG, BdW) on the command line: fit, predict and report from a
subscription log (or a contract table of ``renewals`` and ``churned``).

``fit --model sbg`` reads the log with ``--customer-col``, ``--start-col``, ``--end-col``,
``--observation-end`` and ``--period`` (:func:`clvmodels.contract_summary`) and records them in
the model directory, so that ``predict`` and ``report`` read the same log the same way. Without
``--start-col`` the input is a contract table already.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from clvmodels import presentation as present
from clvmodels.cli.console import Reporter, in_cli_terms, user_errors, warnings_as_notes
from clvmodels.cli.steps import FitSettings, new_estimator
from clvmodels.contract_value import contract_equity
from clvmodels.errors import DataError
from clvmodels.estimation.base import package_version
from clvmodels.estimation.contract import CONTRACT_COLUMNS, check_contracts
from clvmodels.files import manifest as model_files
from clvmodels.files import tables
from clvmodels.files.atomic import write_text
from clvmodels.files.model_directory import ModelDirectory
from clvmodels.models import CONTRACT_MODELS, MODELS
from clvmodels.scoring import ValueSettings
from clvmodels.subscriptions import contract_summary
from clvmodels.timeunit import TimeUnit, set_table_time_unit
from clvmodels.validation import ValidationError

_LOG_OPTIONS = ("start_col", "end_col", "observation_end")


@dataclass
class SubscriptionSettings:
    """How to read a subscription log (the contractual options of ``fit``)."""

    customer_col: str = "customer_id"
    start_col: str | None = None
    end_col: str | None = None
    observation_end: str | None = None
    period: str = "M"
    date_format: str | None = None

    def check(self, model: str) -> None:
        """A log needs its start and end columns and the observation end, and only a
        contractual model reads one."""
        given = [name for name in _LOG_OPTIONS if getattr(self, name) is not None]
        if model not in CONTRACT_MODELS:
            if given:
                raise typer.BadParameter(
                    f"is for the contractual models ({', '.join(CONTRACT_MODELS)}); {model} "
                    "reads an RFM table", param_hint=f"--{given[0].replace('_', '-')}")
            return
        if given and len(given) < len(_LOG_OPTIONS):
            missing = next(name for name in _LOG_OPTIONS if getattr(self, name) is None)
            raise typer.BadParameter("a subscription log needs --start-col, --end-col and "
                                     "--observation-end",
                                     param_hint=f"--{missing.replace('_', '-')}")
        try:
            self.period = TimeUnit.parse(self.period).value
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--period") from None

    @property
    def is_log(self) -> bool:
        return self.start_col is not None


def read_contracts(path: Path, settings: SubscriptionSettings) -> pd.DataFrame:
    """The contract table of a subscription log (summarised by ``settings``) or of a contract
    table file, checked (one-line errors naming the customer and what is wrong)."""
    if settings.is_log:
        text = (settings.customer_col, settings.start_col, settings.end_col)
        log, _ = tables.read_table(path, role="subscriptions", text_columns=text,
                                   metadata=False)
        with user_errors(f"reading {path}"):
            table = contract_summary(
                log, settings.customer_col, settings.start_col, settings.end_col,
                settings.observation_end, settings.period, date_format=settings.date_format)
        return table
    frame, _ = tables.read_table(path, role="contract", metadata=False)
    if len(frame.columns) and frame.columns[0] not in CONTRACT_COLUMNS:
        frame = frame.set_index(frame.columns[0])  # the customer ids, as tables are written
    try:
        check_contracts(frame)
    except ValidationError as error:
        message = in_cli_terms(str(error))
        if "missing column" in message and "RFM table" not in message:
            message += (" (for a subscription log, name its columns with --start-col, "
                        "--end-col and --observation-end)")
        raise DataError(f"reading {path}: {message}") from None
    return set_table_time_unit(frame, settings.period)


def fit_contract(path: Path, output: Path, settings: FitSettings,
                 subscriptions: SubscriptionSettings, reporter: Reporter) -> None:
    """``fit`` with a contractual model: read, fit, write the model directory, print."""
    with reporter.step(f"Reading {path}"):
        table = read_contracts(path, subscriptions)
    spec = MODELS[settings.model]
    model_class = spec.estimator(settings.bayesian)
    model, options = new_estimator(model_class, settings, reporter)
    fit_warnings: list[str] = []
    with (reporter.step(f"Fitting {model_class.__name__} to {len(table):,} customers"),
          user_errors(f"fitting {settings.model}", values=False),
          warnings_as_notes(reporter, fit_warnings)):
        model.fit(table, **options)
    settings.spend = model_files.NO_SPEND_MODEL
    manifest = model_files.new_manifest(
        model=settings.model, spend=settings.spend, bayesian=settings.bayesian,
        time_unit=subscriptions.period, fit={**settings.as_dict(), "warnings": fit_warnings},
        data={"contracts_path": str(path), "n_customers": len(table),
              "subscriptions": asdict(subscriptions)})
    directory = ModelDirectory(model, None, manifest)
    with reporter.step(f"Writing {output}"):
        directory.save(output)
    title = f"{model_class.__name__} parameters"
    if not math.isnan(getattr(model, "log_likelihood_", math.nan)):
        title += f" (log-likelihood {model.log_likelihood_:,.1f})"
    summary = model.summary()
    reporter.table(summary[[c for c in summary.columns if not c.startswith(("mcse",
                                                                           "ess_tail"))]],
                   title)


def is_contract(models: ModelDirectory) -> bool:
    """Whether a model directory holds a contractual model."""
    return getattr(models.transaction_model.family, "kind", None) == "contract"


def recorded_settings(models: ModelDirectory) -> SubscriptionSettings:
    """The subscription-log settings ``fit`` recorded (a contract table's, without them)."""
    # check_manifest has checked the block's names and types.
    settings = SubscriptionSettings(**models.manifest["data"].get("subscriptions", {}))
    settings.period = models.time_unit
    return settings


@dataclass
class ContractScores:
    """Per-customer residual values and the equity of a contractual model directory."""

    table: pd.DataFrame
    equity: Any
    settings: dict[str, Any]


def score_contracts(models: ModelDirectory, path: Path, settings: ValueSettings,
                    payment: float, reporter: Reporter) -> tuple[pd.DataFrame, ContractScores]:
    """The contract table of ``path`` (read as ``fit`` read its input) and its scores."""
    with reporter.step(f"Reading {path}"):
        table = read_contracts(path, recorded_settings(models))
    model = models.transaction_model
    rate = TimeUnit.parse(models.time_unit).rate_per_unit(settings.discount_rate)
    with reporter.step(f"Scoring {len(table):,} customers"), user_errors("scoring"):
        equity = contract_equity(model, table, payment=payment, discount_rate=rate,
                                 margin=settings.margin, horizon=settings.horizon,
                                 level=settings.level)
        active = model.probability_active(table, level=settings.level)
    active = active if isinstance(active, pd.Series) else active["mean"]
    columns = [c for c in ("renewals", "churned", "cohort") if c in table.columns]
    scores = table[columns].assign(probability_active=active, **equity.clv)
    described = {"payment": payment, "discount_rate": settings.discount_rate,
                 "rate_per_period": rate, "margin": settings.margin,
                 "horizon": settings.horizon, "level": settings.level,
                 "time_unit": models.time_unit}
    return table, ContractScores(scores, equity, described)


def equity_headline(scores: ContractScores) -> str:
    """One line: the residual value of the base (with its interval) and of a new customer."""
    equity, settings = scores.equity, scores.settings
    active = int((~scores.table["churned"]).sum())
    interval = ("" if equity.total_interval is None else
                f" ({settings['level']:.0%} interval {present.money(equity.total_interval[0])}"
                f" to {present.money(equity.total_interval[1])})")
    return (f"Residual value of the {active:,} active customers: "
            f"{present.money(equity.total)}{interval}; a new customer is worth "
            f"{present.money(equity.new_customer_value)} (payment {settings['payment']:g} per "
            f"{TimeUnit.parse(settings['time_unit']).label}, margin {settings['margin']:g}, "
            f"{settings['discount_rate']:.0%} a year)")


def predict_contract(models: ModelDirectory, path: Path, output: Path,
                     settings: ValueSettings, payment: float, reporter: Reporter) -> None:
    """``predict`` with a contractual model: residual value per customer, and the equity."""
    _, scores = score_contracts(models, path, settings, payment, reporter)
    metadata = {"format": "clvmodels.contract-scores", "package_version": package_version(),
                "model": models.manifest["transaction_model"]["class"],
                "contracts_path": str(path), **scores.settings}
    with reporter.step(f"Writing {output}"):
        tables.write_table(scores.table, output, metadata=metadata, csv_metadata=False)
    reporter.line(equity_headline(scores))


def report_contract(models: ModelDirectory, path: Path, output: Path,
                    settings: ValueSettings, payment: float, reporter: Reporter) -> None:
    """``report`` with a contractual model: retention curves, value by cohort, equity."""
    from clvmodels import report  # matplotlib: imported only when a report is made

    table, scores = score_contracts(models, path, settings, payment, reporter)
    with (reporter.step(f"Writing the report {output}"),
          user_errors("building the report", values=False)):
        html = report.build_contract_report(models, table, scores.equity, scores.settings,
                                            headline=equity_headline(scores))
        write_text(output, html)
    reporter.line(f"Report written to {output}")


__all__ = ["ContractScores", "SubscriptionSettings", "equity_headline", "fit_contract",
           "is_contract", "predict_contract", "read_contracts", "recorded_settings",
           "report_contract", "score_contracts"]

"""Time-varying covariates on the command line (the Pareto/NBD of Bachmann, Meierer & Naef
2021; see :mod:`clvmodels.models.pareto_nbd_dynamic`).

``fit RFM --model pnbd --time-varying-covariates FILE --purchase-covariates a,b
--dropout-covariates a`` reads a long table, one row per customer and covariate period (one
time unit of the RFM file, starting on ``--covariate-date-col``), from each customer's first
purchase to the calibration end; ``--purchase-covariates`` / ``--dropout-covariates`` then
name its columns (``--covariates FILE`` still holds the spend model's static covariates). The
customers are found by ``--covariate-customer-col`` (default: the RFM file's id column). When
a purchase covariate changes during a customer's calibration, the fit needs the purchases' own
dates: ``--transactions LOG`` (the log the RFM file was summarized from). The model directory
records the two column names, so ``predict`` and ``report`` take ``--time-varying-covariates
FILE`` alone, a table whose periods reach the end of the horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from clvmodels.cli.console import Reporter
from clvmodels.cli.covariates import CovariateSettings, option_hint
from clvmodels.cli.steps import SummarizeSettings, read_transactions, transaction_columns
from clvmodels.errors import DataError
from clvmodels.files import tables
from clvmodels.files.model_directory import ModelDirectory

#: The command-line model that takes time-varying covariates.
TIME_VARYING_MODEL = "pnbd"
#: The transaction log's date column as the fit reads it (renamed: the log's own names are
#: summarize's, the covariate table's may differ).
_PURCHASE_DATE = "purchase date"

TimeVaryingFile = Annotated[Path | None, typer.Option(
    "--time-varying-covariates", help="--model pnbd: long table of covariates that change "
    "over time (.csv or .parquet), one row per customer and period of one time unit, from "
    "each customer's first purchase to the calibration end (predict, report: to the end of "
    "the horizon); --purchase-covariates / --dropout-covariates name its columns.")]
CovariateCustomerCol = Annotated[str | None, typer.Option(
    "--covariate-customer-col", help="Customer id column of the --time-varying-covariates "
    "table (default: the RFM file's id column).")]
CovariateDateCol = Annotated[str, typer.Option(
    "--covariate-date-col", help="Column of the --time-varying-covariates table holding the "
    "date each period starts.")]
FitTransactions = Annotated[Path | None, typer.Option(
    "--transactions", help="With --time-varying-covariates: the transaction log the RFM file "
    "was summarized from (read with the columns summarize recorded), for the covariates at "
    "each purchase; needed when a purchase covariate changes during a customer's "
    "calibration.")]


@dataclass(frozen=True)
class TimeVaryingSettings:
    """What ``fit`` was given for time-varying covariates: the table, its customer and date
    columns (None: the RFM file's id column) and the transaction log."""

    path: Path | None = None
    customer_col: str | None = None
    date_col: str = "date"
    transactions: Path | None = None

    @property
    def active(self) -> bool:
        """Whether the fit has time-varying covariates."""
        return self.path is not None

    def check(self, model: str, bayesian: bool, named: CovariateSettings,
              hint: Callable[[str], str] = option_hint) -> None:
        """Refuse, before any work, options that do not go together; ``hint`` names a
        setting (by its keyword) as the user gave it (the command line's option by default,
        a config file's key in ``run``).

        Raises
        ------
        typer.BadParameter
            Naming the option: a table for another model than ``pnbd`` or a Bayesian fit, no
            purchase or dropout covariates named, ``--transactions`` without a table.
        """
        table = hint("time_varying_covariates")
        if not self.active:
            if self.transactions is not None:
                raise typer.BadParameter(f"is read with {table} only (for the covariates at "
                                         "each purchase)", param_hint=hint("transactions"))
            for key, given in (("covariate_customer_col", self.customer_col is not None),
                               ("covariate_date_col", self.date_col != "date")):
                if given:
                    raise typer.BadParameter(f"names a column of the {table} table, which "
                                             "was not given", param_hint=hint(key))
            return
        if model != TIME_VARYING_MODEL:
            raise typer.BadParameter(f"only {hint('model')} {TIME_VARYING_MODEL} (Pareto/NBD) "
                                     f"takes time-varying covariates, not {model}",
                                     param_hint=table)
        if bayesian:
            raise typer.BadParameter("time-varying covariates are fitted by maximum "
                                     f"likelihood: leave out {hint('bayesian')}",
                                     param_hint=table)
        if not (named.purchase or named.dropout):
            raise typer.BadParameter(f"name the table's covariates with "
                                     f"{hint('purchase_covariates')} and/or "
                                     f"{hint('dropout_covariates')}", param_hint=table)

    def static_columns(self, named: CovariateSettings) -> list[str]:
        """The covariates to find in the RFM file or ``--covariates`` table: the spend
        model's alone when the purchase model's are in the long table."""
        return list(named.spend) if self.active else named.columns()

    def fit_options(self, rfm: pd.DataFrame, reporter: Reporter) -> dict[str, Any]:
        """The purchase model's ``fit`` keywords (none without a table): the table, its
        column names and the transaction log."""
        if not self.active:
            return {}
        customer_col = self.customer_col or str(rfm.index.name or "customer_id")
        options: dict[str, Any] = {
            "time_varying_covariates": read_periods(self.path, customer_col, self.date_col),
            "customer_col": customer_col, "date_col": self.date_col}
        if self.transactions is not None:
            options["transactions"] = read_purchases(self.transactions, rfm, customer_col,
                                                     reporter)
            options["transaction_date_col"] = _PURCHASE_DATE
        return options


def read_periods(path: Path, customer_col: str, date_col: str) -> pd.DataFrame:
    """The long covariate table of a file (ids of a CSV file read as text, as the RFM
    file's are).

    Raises
    ------
    InputFileError, DataError
        The file is missing or unreadable, or lacks the customer or date column.
    """
    frame, _ = tables.read_table(path, role="time-varying covariates",
                                 text_columns=(customer_col,), metadata=False)
    missing = [name for name in (customer_col, date_col) if name not in frame.columns]
    if missing:
        raise DataError(
            f"time-varying covariates file {path} lacks column(s) {missing} (name them with "
            "fit's --covariate-customer-col and --covariate-date-col, or [data] "
            "covariate_customer_col and covariate_date_col in a run config); it has columns "
            f"{[str(column) for column in frame.columns]}")
    return frame


def read_purchases(path: Path, rfm: pd.DataFrame, customer_col: str,
                   reporter: Reporter) -> pd.DataFrame:
    """The transaction log's customer and date columns (read with the columns summarize
    recorded in the RFM file), named as the fit reads them."""
    settings = SummarizeSettings(**transaction_columns(rfm))
    with reporter.step(f"Reading {path}"):
        log = read_transactions(path, settings)
    return pd.DataFrame({customer_col: log[settings.customer_col].to_numpy(),
                         _PURCHASE_DATE: log[settings.date_col].to_numpy()})


def fitted_periods(models: ModelDirectory, path: Path | None) -> pd.DataFrame | None:
    """The covariate table for ``predict`` / ``report`` of a model directory: read with the
    column names the fit recorded; None for models without time-varying covariates.

    Raises
    ------
    typer.BadParameter
        A table for models fitted without, or none for models fitted with.
    """
    hint = "--time-varying-covariates"
    names = getattr(models.transaction_model, "time_varying_covariates_", None)
    if names is None:
        if path is not None:
            raise typer.BadParameter("the models were fitted without time-varying "
                                     "covariates; leave it out", param_hint=hint)
        return None
    if path is None:
        raise typer.BadParameter(
            "the purchase model was fitted with time-varying covariates "
            f"{list(models.transaction_model.covariate_columns)}: pass their table, with "
            "periods to the end of the horizon", param_hint=hint)
    return read_periods(path, names["customer_col"], names["date_col"])


__all__ = ["TIME_VARYING_MODEL", "CovariateCustomerCol", "CovariateDateCol", "FitTransactions",
           "TimeVaryingFile", "TimeVaryingSettings", "fitted_periods", "read_periods",
           "read_purchases"]

"""Static covariates on the command line: the options naming them, the table holding them and
its join to the RFM table.

``fit --covariates FILE --purchase-covariates a,b --dropout-covariates a,b`` (and
``--spend-covariates`` for the spend model) fits maximum-likelihood models with covariates
(see :mod:`clvmodels.estimation.covariates`). ``FILE`` is a CSV or Parquet table with one row
per customer: its customer id column has the name of the RFM table's (``--customer-col`` of
summarize), and every customer of the RFM table must be in it, once. The names of the
covariates are recorded in the model files, so ``predict`` and ``report`` need only
``--covariates FILE`` (or an RFM table that holds the columns itself).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from clvmodels.errors import DataError
from clvmodels.files import manifest as model_files
from clvmodels.files import tables
from clvmodels.files.model_directory import ModelDirectory
from clvmodels.files.model_directory import model_class as estimator_class

#: The processes of the purchase-count model and of the spend model, in option order.
PURCHASE_PROCESSES = ("purchase", "dropout")
SPEND_PROCESSES = ("spend",)


CovariatesFile = Annotated[Path | None, typer.Option(
    "--covariates", help="Table of covariates (.csv or .parquet), one row per customer, with "
    "the RFM table's customer id column; every customer of the RFM table must be in it.")]
PurchaseCovariates = Annotated[str | None, typer.Option(
    "--purchase-covariates", help="Covariates of the purchase rate, comma-separated column "
    "names (e.g. Gender,Channel; maximum likelihood).")]
DropoutCovariates = Annotated[str | None, typer.Option(
    "--dropout-covariates", help="Covariates of the dropout, comma-separated column names.")]
SpendCovariates = Annotated[str | None, typer.Option(
    "--spend-covariates", help="Covariates of the spend model (gamma-gamma), comma-separated "
    "column names.")]


def option_hint(field: str) -> str:
    """The command-line option of a field (``purchase_covariates`` ->
    ``--purchase-covariates``)."""
    return "--" + field.replace("_", "-")


def parse_names(value: str | None) -> tuple[str, ...]:
    """A comma-separated option value (``Gender,Channel``) as column names.

    Raises
    ------
    typer.BadParameter
        An empty name (``a,,b``) or one given twice.
    """
    if value is None:
        return ()
    names = tuple(name.strip() for name in value.split(","))
    if not all(names):
        raise typer.BadParameter(f"{value!r} holds an empty column name; expected names "
                                 "separated by commas, e.g. Gender,Channel")
    return names


def names_from_config(value: Any, key: str) -> tuple[str, ...]:
    """A ``[model] <process>_covariates`` config value: a list of distinct non-empty strings
    (untrusted input).

    Raises
    ------
    typer.BadParameter
        Anything else, naming the key.
    """
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(name, str) and name.strip()
                                               for name in value):
        raise typer.BadParameter(f"{key} = {value!r} should be a list of column names, e.g. "
                                 '["Gender", "Channel"]', param_hint=f"[model] {key}")
    return tuple(name.strip() for name in value)


@dataclass(frozen=True)
class CovariateSettings:
    """The covariates a fit was asked for: the table holding them and the columns per
    process (empty tuples: none)."""

    path: Path | None = None
    purchase: tuple[str, ...] = ()
    dropout: tuple[str, ...] = ()
    spend: tuple[str, ...] = ()

    def by_process(self, spend_model: bool) -> dict[str, tuple[str, ...]]:
        """The columns of the processes of the purchase-count model or of the spend model."""
        processes = SPEND_PROCESSES if spend_model else PURCHASE_PROCESSES
        return {process: getattr(self, process) for process in processes
                if getattr(self, process)}

    def columns(self) -> list[str]:
        """Every named column once, in order of first mention."""
        return list(dict.fromkeys((*self.purchase, *self.dropout, *self.spend)))

    def check(self, hint: Callable[[str], str], models: dict[bool, type | None]) -> None:
        """Refuse, before any work, covariates of a process the models do not have, and a
        covariate file without covariates (``models``: spend or not -> the estimator class
        that will be fitted, None for none; ``hint`` names an option or config key by the
        field's name).

        Raises
        ------
        typer.BadParameter
            Naming the option.
        """
        for spend_model, model_class in models.items():
            processes = SPEND_PROCESSES if spend_model else PURCHASE_PROCESSES
            given = self.by_process(spend_model)
            if not given:
                continue
            process = next(iter(given))
            if model_class is None:
                raise typer.BadParameter("there is no spend model to take them (--spend none)",
                                         param_hint=hint(f"{process}_covariates"))
            if "purchase_covariates" not in inspect.signature(model_class).parameters:
                raise typer.BadParameter(
                    f"{model_class.__name__} takes no covariates (covariates are fitted by "
                    "maximum likelihood: leave out the Bayesian option)",
                    param_hint=hint(f"{process}_covariates"))
            known = {link.process for link in model_class.family.covariate_links}
            for process in processes:
                if getattr(self, process) and process not in known:
                    raise typer.BadParameter(
                        f"the {model_class.family.title} model has no {process} process to "
                        f"take covariates; its processes are {sorted(known) or 'none'}",
                        param_hint=hint(f"{process}_covariates"))
        if self.path is not None and not self.columns():
            raise typer.BadParameter(
                "a covariate table was given but no covariates are named; name them with "
                "--purchase-covariates, --dropout-covariates or --spend-covariates",
                param_hint=hint("covariates"))

    def estimator_options(self, spend_model: bool) -> dict[str, list[str]]:
        """The estimator's keywords (``purchase_covariates=[...]``) for one of the models."""
        return {f"{process}_covariates": list(names)
                for process, names in self.by_process(spend_model).items()}


def fit_covariates(settings: CovariateSettings, model: str, spend: str,
                   bayesian: bool, hint: Callable[[str], str] = option_hint
                   ) -> CovariateSettings:
    """The covariate settings of a fit of the command-line models ``model`` and ``spend``,
    checked (see :meth:`CovariateSettings.check`)."""
    classes = {False: estimator_class(model, bayesian=bayesian, spend=False),
               True: None if spend == model_files.NO_SPEND_MODEL
               else estimator_class(spend, bayesian=bayesian, spend=True)}
    settings.check(hint, classes)
    return settings


def attach_for_models(rfm: pd.DataFrame, models: ModelDirectory, path: Path | None,
                      rfm_source: str, hint: str = "--covariates") -> pd.DataFrame:
    """The RFM table with the covariates the fitted models read (see
    :func:`with_covariates`)."""
    columns = model_covariates((models.transaction_model, models.spend_model))
    return with_covariates(rfm, path, columns, hint, rfm_source,
                           needed_by="the models were fitted with covariates")


def refuse_contract_covariates(given: Any, model: Any) -> None:
    """Refuse covariates (``given``: the option's value, None without) for a contractual
    model (``model``: its command-line name or the fitted model), which takes none."""
    if given is not None:
        name = model if isinstance(model, str) else type(model).__name__
        raise typer.BadParameter(f"the contractual model {name} takes no covariates",
                                 param_hint="--covariates")


def model_covariates(models: Sequence[Any]) -> list[str]:
    """The covariate columns fitted models read from the RFM table (their model files record
    them), once each: not those of a model fitted with time-varying covariates (in their own
    table, see :mod:`clvmodels.cli.time_varying`)."""
    names: list[str] = []
    for model in models:
        if model is not None and getattr(model, "time_varying_covariates_", None) is None:
            names += [name for name in model.covariate_columns if name not in names]
    return names


def read_covariate_table(path: Path, id_column: str) -> pd.DataFrame:
    """The covariate table of a file, indexed by customer id (ids of a CSV file read as
    text, as the RFM table's are).

    Raises
    ------
    InputFileError, DataError
        The file is missing or unreadable, lacks the id column, or repeats an id.
    """
    frame, _ = tables.read_table(path, role="covariates", text_columns=(id_column,),
                                 metadata=False)
    if id_column not in frame.columns:
        raise DataError(
            f"covariates file {path} lacks the customer id column {id_column!r} (the RFM "
            f"table's); it has columns {[str(column) for column in frame.columns]}")
    ids = frame[id_column]
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise DataError(
            f"covariates file {path}: customer {_plain(repeated.iloc[0])!r} appears more than "
            f"once ({int(ids.duplicated(keep=False).sum())} rows share a repeated id); a "
            "covariate table has one row per customer")
    return frame.set_index(id_column)


def with_covariates(rfm: pd.DataFrame, path: Path | None, columns: Sequence[str],
                    hint: str, rfm_source: str, needed_by: str = "the fit names covariates"
                    ) -> pd.DataFrame:
    """The RFM table with the covariate ``columns`` joined from the file at ``path`` (or
    found in the RFM table itself without one); unchanged without columns.

    Raises
    ------
    typer.BadParameter
        Covariates are needed, but neither ``path`` nor the RFM table holds them (``hint``
        names the option; ``needed_by`` says who needs the covariates), or a file is given
        that nothing needs.
    DataError
        A customer of the RFM table is not in the file, the file lacks a column, or a column
        is in both tables (which one is meant would be a guess).
    """
    if not columns:
        if path is not None:
            raise typer.BadParameter("the models take no covariates (they were fitted "
                                     "without); leave it out", param_hint=hint)
        return rfm
    if path is None:
        absent = [name for name in columns if name not in rfm.columns]
        if absent:
            raise typer.BadParameter(
                f"{needed_by} {list(columns)}, and RFM file "
                f"{rfm_source} lacks {absent}: pass the covariate table (one row per "
                "customer)", param_hint=hint)
        return rfm
    id_column = rfm.index.name or "customer_id"
    table = read_covariate_table(path, str(id_column))
    absent = [name for name in columns if name not in table.columns]
    if absent:
        raise DataError(f"covariates file {path} lacks column(s) {absent}; it has "
                        f"{[str(column) for column in table.columns]}")
    both = [name for name in columns if name in rfm.columns]
    if both:
        raise DataError(f"column(s) {both} are in both RFM file {rfm_source} and covariates "
                        f"file {path}; keep them in one of the two")
    missing = ~rfm.index.isin(table.index)
    if missing.any():
        first = _plain(rfm.index[missing][0])
        kinds = ""
        if missing.all() and rfm.index.dtype != table.index.dtype:
            kinds = (f" (no id matches: the RFM ids are of type {rfm.index.dtype}, the "
                     f"covariate file's of type {table.index.dtype})")
        raise DataError(
            f"covariates file {path} has no row for customer {first!r} of RFM file "
            f"{rfm_source} ({int(missing.sum())} of {len(rfm)} customers are missing){kinds}; "
            "every customer needs covariates")
    joined = rfm.join(table[list(columns)], how="left")
    joined.attrs = rfm.attrs
    return joined


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (for messages)."""
    return value.item() if hasattr(value, "item") else value


__all__ = ["CovariateSettings", "CovariatesFile", "DropoutCovariates", "PurchaseCovariates",
           "SpendCovariates", "attach_for_models", "fit_covariates", "model_covariates",
           "names_from_config", "option_hint", "parse_names", "read_covariate_table",
           "refuse_contract_covariates",
           "with_covariates"]

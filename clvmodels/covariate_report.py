"""The report's covariate tables: each coefficient with its interval and its effect as a rate
multiplier, and customer equity by covariate level.

A family's covariate link (:class:`~clvmodels.estimation.family.CovariateLink`) scales
parameters as ``theta_i = theta * exp(sign * g' z_i)``. When it scales one parameter that is
a scale in the data's unit (Pareto/NBD's alpha and beta, the BG/NBD's alpha, Gamma-Gamma's
gamma), the process's mean rate (purchases per time unit, dropout rate, mean spend) is
proportional to ``exp(g' z)``: a coefficient g of a 0/1 column multiplies that mean by
``exp(g)`` for the customers with 1 (the interval is the coefficient's, mapped by ``exp``).
Other links (the BG/NBD's dropout scales a and b together, keeping the mean dropout
probability) have no such multiplier: the table leaves it blank.

A Pareto/NBD fitted with time-varying covariates reads them from a long table of periods
(:func:`covariate_columns`): a covariate that changes over a customer's periods multiplies the
rate in the periods where it is higher (its sentence says so), and has no level per customer
to break equity down by; those constant over each customer's periods do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvmodels.estimation.draws import interval

#: What a multiplier of each process's mean multiplies, in words.
EFFECT_VERBS = {"purchase": "purchase {m} as often", "dropout": "drop out {m} as fast",
                "spend": "spend {m} as much per transaction"}
#: Numeric covariates with this many distinct values or fewer get equity by level.
MAX_NUMERIC_LEVELS = 2


def covariate_models(models: Any) -> list[tuple[str, Any]]:
    """The fitted models of a model directory that have covariates, with their roles."""
    found = []
    for role in ("transaction_model", "spend_model"):
        model = getattr(models, role)
        if model is not None and model.covariate_columns:
            found.append((role, model))
    return found


@dataclass(frozen=True)
class CovariateColumns:
    """Where a model's covariates are, for the report: ``frame``, the RFM table with a column
    per covariate that has one value per customer; ``binary``, the covariates holding only 0
    and 1; ``varying``, those that change over a customer's periods (time-varying)."""

    frame: pd.DataFrame
    per_customer: list[str]
    binary: set[str]
    varying: list[str]


def covariate_columns(model: Any, rfm: pd.DataFrame,
                      periods: pd.DataFrame | None = None) -> CovariateColumns:
    """The covariates of a fitted ``model``: columns of ``rfm``, or, for a fit with
    time-varying covariates, of ``periods`` (the long table of its covariate periods, with
    the customer column its fit recorded), whose columns constant over each customer's
    periods are joined to ``rfm``.

    Raises
    ------
    ValueError
        A fit with time-varying covariates without ``periods``.
    """
    columns = list(model.covariate_columns)
    names = getattr(model, "time_varying_covariates_", None)
    if names is None:
        return CovariateColumns(rfm, columns, binary_columns(rfm, columns), [])
    if periods is None:
        raise ValueError(f"{type(model).__name__} was fitted with time-varying covariates: "
                         "the report needs the table of their periods")
    grouped = periods.groupby(names["customer_col"])
    changes = grouped[columns].nunique(dropna=False).max() > 1
    varying = [name for name in columns if changes[name]]
    constant = [name for name in columns if not changes[name]]
    frame = rfm.join(grouped[[name for name in constant if name not in rfm]].first())
    frame.attrs = rfm.attrs
    binary = binary_columns(frame, constant) | binary_columns(periods, varying)
    return CovariateColumns(frame, constant, binary, varying)


def multiplies_mean(family: Any, process: str) -> bool:
    """Whether ``exp(coefficient)`` multiplies the process's mean rate: its link scales one
    parameter, a scale in the data's unit."""
    link = next(link for link in family.covariate_links if link.process == process)
    if len(link.parameters) != 1:
        return False
    parameter = next(p for p in family.parameters if p.name == link.parameters[0])
    return bool(parameter.in_data_unit)


def coefficient_table(model: Any, level: float) -> pd.DataFrame:
    """The coefficients of a model with covariates: estimate, standard error, Wald interval
    of mass ``level`` (of a Bayesian model: the posterior mean, sd and equal-tailed credible
    interval), and (where it applies, see :func:`multiplies_mean`) the multiplier of
    the process's mean, ``exp(estimate)``, with its interval.

    Returns
    -------
    DataFrame
        Indexed by coefficient name (``purchase.Channel``), with ``process``, ``covariate``,
        ``estimate``, ``std_error``, ``lower``, ``upper``, ``multiplier``,
        ``multiplier_lower``, ``multiplier_upper`` (NaN without a multiplier).
    """
    if model.point_estimate:
        summary = model.summary(level=level)
        lower, upper = (column for column in summary.columns
                        if column.startswith(("lower", "upper")))
        names = [name for name in summary.index if name not in model.family.param_names]
        table = summary.loc[names, ["estimate", "std_error", lower, upper]].rename(
            columns={lower: "lower", upper: "upper"}).astype(float)
    else:  # posterior draws: their mean, sd and equal-tailed interval
        draws = model.parameter_draws()
        draws = draws[[name for name in draws.columns if name not in model.family.param_names]]
        lower, upper = interval(draws.to_numpy(), level)
        table = pd.DataFrame({"estimate": draws.mean(), "std_error": draws.std(),
                              "lower": lower, "upper": upper})
        names = list(table.index)
    split = [str(name).split(".", 1) for name in names]
    table.insert(0, "covariate", [column for _, column in split])
    table.insert(0, "process", [process for process, _ in split])
    applies = np.array([process in EFFECT_VERBS and multiplies_mean(model.family, process)
                        for process, _ in split])
    for column, source in (("multiplier", "estimate"), ("multiplier_lower", "lower"),
                           ("multiplier_upper", "upper")):
        table[column] = np.where(applies, np.exp(table[source].to_numpy()), np.nan)
    return table.rename_axis("coefficient")


def _contrast(design: Any, covariate: str) -> tuple[str, str] | None:
    """The level compared and the reference of a design column (``Channel[offline]`` ->
    ("Channel = offline", "Channel = online")), or None for a numeric column (per unit)."""
    for source, levels in design.levels.items():
        if levels is not None and covariate.startswith(f"{source}["):
            return f"{source} = {covariate[len(source) + 1:-1]}", f"{source} = {levels[0]}"
    return None


def effect_sentences(model: Any, table: pd.DataFrame, level: float,
                     binary: set[str] | frozenset[str] = frozenset(),
                     varying: list[str] | tuple[str, ...] = ()) -> list[str]:
    """One plain sentence per coefficient with a multiplier, e.g. "Customers with Channel = 1
    purchase 1.87x as often as those with Channel = 0 (90% interval 1.52x to 2.30x)."
    (``binary``: numeric covariates holding only 0 and 1; ``varying``: time-varying ones,
    whose effect is within a customer's periods: "In periods with High.Season = 1, customers
    purchase 2.05x as often as in periods with High.Season = 0 ...".)"""
    sentences = []
    for _, row in table.iterrows():
        if not np.isfinite(row["multiplier"]):
            continue
        verb = EFFECT_VERBS[row["process"]].format(m=f"{row['multiplier']:.3g}x")
        interval = (f"({level:.0%} interval {row['multiplier_lower']:.3g}x to "
                    f"{row['multiplier_upper']:.3g}x)")
        contrast = _contrast(model.covariate_design, row["covariate"])
        if contrast is None and row["covariate"] in binary:
            contrast = (f"{row['covariate']} = 1", f"{row['covariate']} = 0")
        if row["covariate"] in varying:
            sentences.append(
                f"In periods with {contrast[0]}, customers {verb} as in periods with "
                f"{contrast[1]} {interval}." if contrast is not None else
                f"Per unit more of {row['covariate']} in a period, customers {verb} in it "
                f"{interval}.")
        elif contrast is None:
            sentences.append(f"Per unit more of {row['covariate']}, customers {verb} "
                             f"{interval}.")
        else:
            sentences.append(f"Customers with {contrast[0]} {verb} as those with "
                             f"{contrast[1]} {interval}.")
    return sentences


def level_columns(rfm: pd.DataFrame, columns: list[str]) -> list[str]:
    """The covariates to break equity down by: categorical ones and numeric ones with at most
    :data:`MAX_NUMERIC_LEVELS` values (0/1 indicators)."""
    chosen = []
    for name in columns:
        column = rfm[name]
        if (pd.api.types.is_bool_dtype(column.dtype)
                or not pd.api.types.is_numeric_dtype(column.dtype)
                or column.nunique() <= MAX_NUMERIC_LEVELS):
            chosen.append(name)
    return chosen


def binary_columns(rfm: pd.DataFrame, columns: list[str]) -> set[str]:
    """The numeric covariates whose values are all 0 or 1."""
    return {name for name in columns
            if pd.api.types.is_numeric_dtype(rfm[name].dtype)
            and not pd.api.types.is_bool_dtype(rfm[name].dtype)
            and rfm[name].isin([0, 1]).all()}


def value_by_level(rfm: pd.DataFrame, values: pd.Series, columns: list[str]) -> pd.DataFrame:
    """The total of ``values`` (CLV, or expected purchases) by level of each covariate, per
    customer and as a share of the whole.

    Returns
    -------
    DataFrame
        Indexed by (``covariate``, ``level``): ``customers``, ``total``, ``per_customer``,
        ``share``.
    """
    grand_total = float(values.sum())
    parts = []
    for name in columns:
        grouped = values.groupby(rfm.loc[values.index, name].to_numpy(), sort=True)
        part = pd.DataFrame({"customers": grouped.size(), "total": grouped.sum(),
                             "per_customer": grouped.mean()})
        part["share"] = part["total"] / grand_total if grand_total else np.nan
        part.index = pd.MultiIndex.from_arrays(
            [[name] * len(part), [str(level) for level in part.index]],
            names=["covariate", "level"])
        parts.append(part)
    return pd.concat(parts)


__all__ = ["EFFECT_VERBS", "MAX_NUMERIC_LEVELS", "CovariateColumns", "binary_columns",
           "coefficient_table", "covariate_columns", "covariate_models", "effect_sentences",
           "level_columns", "multiplies_mean", "value_by_level"]

"""Static covariates of a maximum-likelihood fit: the columns a user names, their expansion
into a design matrix, and the checks that make a bad covariate a clear error.

A family declares which parameters each process's covariates scale
(:attr:`~clvmodels.estimation.family.Family.covariate_links`): per customer i,
``theta_i = theta * exp(sign * g' z_i)``. The user names columns of the RFM table per process
(``purchase_covariates=["Gender", "Channel"]``); :class:`CovariateDesign` turns them into
numeric design columns:

- numeric and boolean columns are taken as they are;
- a pandas categorical or a string column is expanded into one indicator per level but the
  first (drop-first: the first category of a categorical's dtype, else the first level in
  sorted order, is the reference), named ``Channel[offline]``;
- anything else (dates, mixed objects), missing or non-finite values, a column that does not
  vary over the fitted customers, and perfect collinearity with the other covariates of a
  process (the base parameter is the intercept) are refused with a
  :class:`~clvmodels.ValidationError` naming the column.

The design also records each design column's weighted mean and standard deviation over the
fitted customers: the optimiser works on centred and standardised columns (better
conditioned), and ``standardize=True`` puts the L2 penalty on the coefficients of the
standardised columns; the coefficients are always reported on the user's scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clvmodels.estimation.family import CovariateLink, Family
from clvmodels.validation import ValidationError

#: The processes a covariate may enter, by the keyword of the estimators
#: (``<process>_covariates=``).
PROCESSES = ("purchase", "dropout", "spend")
_LEVEL_TYPES = (str, int, float, bool)


def links_by_process(family: Family) -> dict[str, CovariateLink]:
    """The family's covariate links by process name, in the family's order."""
    return {link.process: link for link in family.covariate_links}


@dataclass(frozen=True)
class CovariateSpec:
    """The covariates an estimator was asked for, checked against its family.

    Attributes
    ----------
    processes : dict
        Process name -> the table's columns that enter it (only processes with some).
    penalizer : dict
        Process name -> L2 penalty coefficient of its coefficients (0 by default).
    constrain : tuple of str
        Columns whose coefficients are one and the same in every process they enter.
    standardize : bool
        Whether the penalty applies to the coefficients of standardised columns.
    """

    processes: dict[str, tuple[str, ...]]
    penalizer: dict[str, float]
    constrain: tuple[str, ...]
    standardize: bool

    @classmethod
    def check(cls, family: Family, owner: str, columns: Mapping[str, Any], penalizer: Any,
              constrain: Any, standardize: Any) -> CovariateSpec:
        """The checked request (``columns``: process -> the columns given, or None).

        Raises
        ------
        ValidationError
            A process the model does not have, columns that are not a list of distinct
            names, a penalizer that is not a number >= 0 (or a mapping of processes to
            them), a constrained column that is not a covariate of two processes.
        """
        links = links_by_process(family)
        processes: dict[str, tuple[str, ...]] = {}
        for process, names in columns.items():
            if names is None:
                continue
            argument = f"{process}_covariates"
            if process not in links:
                raise ValidationError(
                    f"{owner}: {argument}: the {family.title} model has no {process} process "
                    f"to take covariates; its processes are {list(links) or 'none'}")
            if isinstance(names, str) or not isinstance(names, Sequence) or not all(
                    isinstance(name, str) and name for name in names):
                raise ValidationError(f"{owner}: {argument} must be a list of column names, "
                                      f"got {names!r}")
            repeated = sorted({name for name in names if list(names).count(name) > 1})
            if repeated:
                raise ValidationError(f"{owner}: {argument} names {repeated} more than once")
            if names:
                processes[process] = tuple(names)
        return cls(processes, _check_penalizer(owner, penalizer, links),
                   _check_constrain(owner, constrain, processes),
                   _check_flag(owner, standardize))

    @property
    def active(self) -> bool:
        """Whether any covariate was asked for."""
        return bool(self.processes)

    def source_columns(self) -> list[str]:
        """Every named column once, in order of first mention."""
        return list(dict.fromkeys(name for names in self.processes.values() for name in names))


def _check_penalizer(owner: str, penalizer: Any, links: Mapping[str, CovariateLink]
                     ) -> dict[str, float]:
    values = (dict.fromkeys(links, 0.0 if penalizer is None else penalizer)
              if not isinstance(penalizer, Mapping) else dict(penalizer))
    unknown = sorted(set(map(str, values)) - set(links))
    if unknown:
        raise ValidationError(f"{owner}: covariate_penalizer names processes {unknown}; the "
                              f"model's processes are {list(links)}")
    checked = {}
    for process in links:
        value = values.get(process, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0):
            raise ValidationError(f"{owner}: covariate_penalizer for {process!r} must be a "
                                  f"finite number >= 0, got {value!r}")
        checked[process] = float(value)
    return checked


def _check_constrain(owner: str, constrain: Any, processes: Mapping[str, tuple[str, ...]]
                     ) -> tuple[str, ...]:
    if constrain is None:
        return ()
    if isinstance(constrain, str) or not isinstance(constrain, Sequence) or not all(
            isinstance(name, str) for name in constrain):
        raise ValidationError(f"{owner}: constrain must be a list of column names, got "
                              f"{constrain!r}")
    for name in constrain:
        entered = [process for process, names in processes.items() if name in names]
        if len(entered) < 2:
            raise ValidationError(
                f"{owner}: constrain: column {name!r} is a covariate of "
                f"{entered or 'no process'}; a constraint ties its coefficients across "
                "processes, so it must be among the covariates of at least two")
    return tuple(dict.fromkeys(constrain))


def _check_flag(owner: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{owner}: standardize must be True or False, got {value!r}")
    return bool(value)


def _example(index: pd.Index, mask: np.ndarray) -> str:
    example = index[np.flatnonzero(mask)[0]]
    example = example.item() if isinstance(example, np.generic) else example
    return f"customer {example!r}"


def _is_categorical(series: pd.Series) -> bool:
    """A pandas categorical, a string column, or an object column holding only strings."""
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            series.dtype) and series.dtype != object:
        return True
    return series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in (
        "string", "empty")


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(series.dtype) or (
        pd.api.types.is_numeric_dtype(series.dtype)
        and not pd.api.types.is_complex_dtype(series.dtype))


def _column(table: pd.DataFrame, name: str, role: str) -> pd.Series:
    if name not in table.columns:
        raise ValidationError(
            f"column {name!r} ({role}) is not in the table; it has columns "
            f"{[str(column) for column in table.columns]}")
    column = table[name]
    if isinstance(column, pd.DataFrame):
        raise ValidationError(f"column {name!r} ({role}) appears more than once in the table")
    missing = column.isna().to_numpy()
    if missing.any():
        raise ValidationError(
            f"column {name!r} ({role}): {int(missing.sum())} missing value(s) (e.g. "
            f"{_example(table.index, missing)}); covariates must be known for every customer")
    return column


def _numeric_values(column: pd.Series, name: str, role: str, index: pd.Index) -> np.ndarray:
    values = column.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValidationError(f"column {name!r} ({role}): {int(bad.sum())} value(s) are not "
                              f"finite (e.g. {_example(index, bad)})")
    return values


def _levels_present(column: pd.Series) -> list:
    """The levels a fitted categorical column holds, reference first."""
    present = set(column.unique().tolist())
    if isinstance(column.dtype, pd.CategoricalDtype):
        levels = [level for level in column.cat.categories.tolist() if level in present]
    else:
        levels = sorted(present)
    return [level.item() if isinstance(level, np.generic) else level for level in levels]


@dataclass(frozen=True)
class CovariateDesign:
    """The design of a fit with covariates: what each named column became, and its scale.

    Attributes
    ----------
    spec : CovariateSpec
        The request.
    levels : dict
        Source column -> its levels (reference first) if categorical, None if numeric.
    columns : tuple of str
        The design columns: numeric sources by name, levels but the first as
        ``source[level]``.
    centers, scales : ndarray
        Weighted mean and standard deviation of each design column over the fitted
        customers.
    """

    spec: CovariateSpec
    levels: dict[str, list | None]
    columns: tuple[str, ...]
    centers: np.ndarray
    scales: np.ndarray

    # --------------------------------------------------------------------------- structure
    def expanded(self, source: str) -> list[str]:
        """The design columns of one source column."""
        levels = self.levels[source]
        return [source] if levels is None else [f"{source}[{level}]" for level in levels[1:]]

    def process_columns(self, process: str) -> list[int]:
        """Positions (in :attr:`columns`) of the design columns of a process."""
        names = [column for source in self.spec.processes[process]
                 for column in self.expanded(source)]
        return [self.columns.index(name) for name in names]

    def coefficients(self, family: Family) -> list[tuple[str, int, CovariateLink]]:
        """Each reported coefficient: its name ``process.column``, its design column and its
        process's link, processes in the family's order."""
        return [(f"{link.process}.{self.columns[position]}", position, link)
                for link in family.covariate_links if link.process in self.spec.processes
                for position in self.process_columns(link.process)]

    def free_coefficients(self, family: Family) -> tuple[list[str], np.ndarray]:
        """The coefficients the optimiser varies and, per reported coefficient, which one it
        is: a constrained column's coefficients are one, named ``constrained.<column>``."""
        names: list[str] = []
        tie = []
        tied_columns = {column for source in self.spec.constrain
                        for column in self.expanded(source)}
        for name, position, _ in self.coefficients(family):
            column = self.columns[position]
            free = f"constrained.{column}" if column in tied_columns else name
            if free not in names:
                names.append(free)
            tie.append(names.index(free))
        return names, np.array(tie, dtype=np.int64)

    # --------------------------------------------------------------------------- data
    @classmethod
    def fit(cls, spec: CovariateSpec, table: pd.DataFrame, rows: np.ndarray,
            weights: np.ndarray) -> CovariateDesign:
        """The design of the fitted customers (``rows``, a mask over ``table``, with their
        ``weights``), checking every named column.

        Raises
        ------
        ValidationError
            Naming the column: not in the table, missing or non-finite values, non-numeric
            values without a categorical dtype, no variation over the fitted customers, or
            perfectly collinear with the other covariates of a process.
        """
        fitted = table.loc[rows] if not rows.all() else table
        levels: dict[str, list | None] = {}
        for source in spec.source_columns():
            column = _column(fitted, source, "a covariate")
            if _is_categorical(column):
                found = _levels_present(column)
                if not all(isinstance(level, _LEVEL_TYPES) for level in found):
                    raise ValidationError(f"column {source!r} (a covariate): levels must be "
                                          f"strings or numbers, got {found[:5]!r}")
                levels[source] = found
                if len(found) < 2:
                    raise ValidationError(
                        f"column {source!r} (a covariate): every fitted customer has the "
                        f"level {found[0]!r}; a covariate that does not vary has no effect "
                        "to estimate")
            elif _is_numeric(column):
                values = _numeric_values(column, source, "a covariate", fitted.index)
                levels[source] = None
                if np.ptp(values) == 0:
                    raise ValidationError(
                        f"column {source!r} (a covariate): every fitted customer has the "
                        f"value {values[0]:g}; a covariate that does not vary has no effect "
                        "to estimate")
            else:
                raise ValidationError(
                    f"column {source!r} (a covariate) holds non-numeric values (dtype "
                    f"{column.dtype}) without a categorical dtype; expected numbers, or a "
                    "pandas categorical or string column to expand into levels")
        partial = cls(spec, levels, (), np.zeros(0), np.ones(0))
        columns = tuple(column for source in spec.source_columns()
                        for column in partial.expanded(source))
        partial = cls(spec, levels, columns, np.zeros(len(columns)), np.ones(len(columns)))
        matrix = partial.matrix(fitted)
        w = weights / weights.sum()
        centers = w @ matrix
        scales = np.sqrt(w @ (matrix - centers) ** 2)
        design = cls(spec, levels, columns, centers, np.where(scales > 0, scales, 1.0))
        design.check_collinearity(matrix)
        return design

    def matrix(self, table: pd.DataFrame) -> np.ndarray:
        """The design columns of a table on the user's scale, one row per customer.

        Raises
        ------
        ValidationError
            A covariate column that is missing from the table, has missing or non-finite
            values, a level the fit did not see, or is of another kind than in the fit.
        """
        parts = []
        for source, levels in self.levels.items():
            column = _column(table, source, "a covariate of the model")
            if levels is None:
                if not _is_numeric(column):
                    raise ValidationError(
                        f"column {source!r} (a covariate of the model): expected numbers, as "
                        f"in the fit, got dtype {column.dtype}")
                parts.append(_numeric_values(column, source, "a covariate of the model",
                                             table.index)[:, None])
                continue
            values = column.astype(object).to_numpy()
            known = pd.Index(levels, dtype=object)
            codes = known.get_indexer(values)
            unknown = codes < 0
            if unknown.any():
                raise ValidationError(
                    f"column {source!r} (a covariate of the model): level "
                    f"{values[np.flatnonzero(unknown)[0]]!r} ({_example(table.index, unknown)})"
                    f" was not seen in the fit; its levels are {levels}")
            parts.append((codes[:, None] == np.arange(1, len(levels))[None, :]).astype(float))
        return np.hstack(parts) if parts else np.zeros((len(table), 0))

    def standardised(self, matrix: np.ndarray) -> np.ndarray:
        """The design columns centred and divided by their standard deviations."""
        return (matrix - self.centers) / self.scales

    def check_collinearity(self, matrix: np.ndarray) -> None:
        """Refuse a process whose design columns, with the intercept the base parameter
        plays, are linearly dependent, naming the first column that adds nothing."""
        distinct = np.unique(self.standardised(matrix), axis=0)
        for process in self.spec.processes:
            chosen = [np.ones((len(distinct), 1))]
            for position in self.process_columns(process):
                candidate = np.hstack([*chosen, distinct[:, [position]]])
                if np.linalg.matrix_rank(candidate) < candidate.shape[1]:
                    raise ValidationError(
                        f"column {self.columns[position]!r} (a {process} covariate) is "
                        "perfectly collinear with the intercept and the covariates before it "
                        f"({[self.columns[p] for p in self.process_columns(process)]}); "
                        "its effect cannot be told apart: drop one of them")
                chosen.append(distinct[:, [position]])

    # --------------------------------------------------------------------------- model file
    def to_document(self) -> dict[str, Any]:
        """The design as JSON-ready values (for the model file)."""
        return {
            "processes": {process: list(names) for process, names in
                          self.spec.processes.items()},
            "levels": {source: levels for source, levels in self.levels.items()},
            "centers": self.centers.tolist(),
            "scales": self.scales.tolist(),
            "penalizer": dict(self.spec.penalizer),
            "constrain": list(self.spec.constrain),
            "standardize": self.spec.standardize,
        }

    @classmethod
    def from_document(cls, family: Family, document: Any, source: str) -> CovariateDesign:
        """The design of a model file, every field checked (it is untrusted input).

        Raises
        ------
        ValidationError
            Naming the field that is missing, of the wrong type or inconsistent.
        """
        if not isinstance(document, dict):
            raise ValidationError(f"{source}: covariates must be a mapping")
        expected = {"processes", "levels", "centers", "scales", "penalizer", "constrain",
                    "standardize"}
        if set(document) != expected:
            raise ValidationError(f"{source}: covariates must have exactly the fields "
                                  f"{sorted(expected)}, got {sorted(document)}")
        processes = document["processes"]
        if not isinstance(processes, dict) or not processes:
            raise ValidationError(f"{source}: covariates.processes must map processes to "
                                  "columns")
        spec = CovariateSpec.check(family, source, processes, document["penalizer"],
                                   document["constrain"], document["standardize"])
        levels = document["levels"]
        if not isinstance(levels, dict) or list(levels) != spec.source_columns():
            raise ValidationError(f"{source}: covariates.levels must name the columns "
                                  f"{spec.source_columns()} in order")
        for name, found in levels.items():
            if found is not None and not (
                    isinstance(found, list) and len(found) >= 2
                    and all(isinstance(level, _LEVEL_TYPES) for level in found)
                    and pd.Index(found, dtype=object).is_unique):
                raise ValidationError(f"{source}: covariates.levels[{name!r}] must be null or "
                                      "a list of at least two distinct strings or numbers")
        partial = cls(spec, levels, (), np.zeros(0), np.ones(0))
        columns = tuple(column for name in spec.source_columns()
                        for column in partial.expanded(name))
        centers, scales = (_floats(document[key], len(columns), f"{source}: covariates.{key}")
                           for key in ("centers", "scales"))
        if np.any(scales <= 0):
            raise ValidationError(f"{source}: covariates.scales must be positive")
        return cls(spec, levels, columns, centers, scales)


def _floats(values: Any, n: int, source: str) -> np.ndarray:
    if not (isinstance(values, list) and len(values) == n and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in values)):
        raise ValidationError(f"{source} must be a list of {n} finite numbers")
    return np.array(values, dtype=float)


__all__ = ["PROCESSES", "CovariateDesign", "CovariateSpec", "links_by_process"]

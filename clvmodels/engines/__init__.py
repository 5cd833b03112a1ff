"""The engines of :func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout`.

- :mod:`~clvmodels.engines.pandas` (``"pandas"``, the default): in memory, NumPy counts;
- :mod:`~clvmodels.engines.duckdb` (``"duckdb"``): a DataFrame or a CSV/Parquet file read out of
  core (``clvmodels[fast]``);
- :mod:`~clvmodels.engines.spark` (``"spark"``): a ``pyspark.sql.DataFrame`` in and out, as
  Spark SQL (``clvmodels[spark]``).

What they share is written once: the observation/calibration window, the warnings, the table and
its ``attrs`` (:mod:`~clvmodels.engines.window`), and the input checks and aggregation of the
SQL engines (:mod:`~clvmodels.engines.sql`). :func:`summarise` dispatches; the DuckDB and Spark
engines are imported only when asked for, so their packages stay optional.
"""

from __future__ import annotations

from clvmodels.engines.window import SummaryRequest

__all__ = ["ENGINES", "SummaryRequest", "check_engine", "summarise"]

#: The engines of :func:`clvmodels.rfm_summary` and :func:`clvmodels.calibration_holdout`.
ENGINES = ("pandas", "duckdb", "spark")


def check_engine(engine: str) -> str:
    """``engine`` if it is one of :data:`ENGINES`.

    Raises
    ------
    ValueError
        If it is not.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    return engine


def summarise(transactions: object, request: SummaryRequest, engine: str) -> object:
    """The summary ``request`` asks for, computed by ``engine`` (see :data:`ENGINES`)."""
    check_engine(engine)
    if engine == "pandas":
        from clvmodels.engines import pandas as module
    elif engine == "duckdb":
        from clvmodels.engines import duckdb as module
    else:
        from clvmodels.engines import spark as module
    return module.summarise(transactions, request)

"""``lifetimes.datasets`` on the data clvmodels ships (``clvmodels.datasets``).

The CDNOW files, the CDNOW sample's published summary and the donations table are the same
files lifetimes ships (Fader & Hardie's public data sets). ``example_transactions.csv`` is
lifetimes' own synthetic log (made with lifetimes' generators; MIT licence, copyright 2015
Cameron Davidson-Pilon, notice in ``data/LICENSE-lifetimes.txt``), shipped as
``lifetimes_example_transactions.csv``. ``cdnow_customers_summary.csv`` is the published
summary's first four columns under lifetimes' names.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from clvmodels.datasets import data_file

__all__ = [
    "load_cdnow_summary",
    "load_cdnow_summary_data_with_monetary_value",
    "load_dataset",
    "load_donations",
    "load_transaction_data",
]

#: lifetimes' file names -> clvmodels' bundled files.
_FILES = {
    "CDNOW_master.txt": "CDNOW_master.txt",
    "CDNOW_sample.txt": "CDNOW_sample.txt",
    "donations.csv": "donations.csv",
    "cdnow_customers_summary_with_transactions.csv": "cdnow_sample_summary.csv",
    "example_transactions.csv": "lifetimes_example_transactions.csv",
}
_SUMMARY = "cdnow_customers_summary.csv"


def load_dataset(filename: str, **kwargs: Any) -> pd.DataFrame:
    """Read one of lifetimes' data files with ``pandas.read_csv``.

    Parameters
    ----------
    filename : str
        lifetimes' name: "CDNOW_master.txt", "CDNOW_sample.txt", "donations.csv",
        "cdnow_customers_summary.csv", "cdnow_customers_summary_with_transactions.csv" or
        "example_transactions.csv".
    **kwargs
        Passed to :func:`pandas.read_csv` (``usecols``, ``index_col``, ``sep``, ...).

    Returns
    -------
    DataFrame

    Raises
    ------
    FileNotFoundError
        For another name (the message lists these).
    """
    if filename == _SUMMARY:
        summary = pd.read_csv(data_file(_FILES["cdnow_customers_summary_with_transactions.csv"]),
                              dtype=str)
        text = summary[["ID", "x", "t_x", "T"]].set_axis(
            ["ID", "frequency", "recency", "T"], axis=1).to_csv(index=False)
        return pd.read_csv(io.StringIO(text), **kwargs)
    if filename not in _FILES:
        raise FileNotFoundError(
            f"lifetimes has no data set {filename!r}; the data sets are "
            f"{sorted([*_FILES, _SUMMARY])}")
    return pd.read_csv(data_file(_FILES[filename]), **kwargs)


def load_donations(**kwargs: Any) -> pd.DataFrame:
    """The donations table (``frequency, recency, periods, weights``), as lifetimes loads it
    (see :func:`clvmodels.load_donations` for clvmodels' own)."""
    return load_dataset("donations.csv", **kwargs)


def load_cdnow_summary(**kwargs: Any) -> pd.DataFrame:
    """The CDNOW sample's calibration summary: ``ID, frequency, recency, T`` on a RangeIndex
    (pass ``index_col=[0]`` to index by ID), as lifetimes loads it."""
    return load_dataset(_SUMMARY, **kwargs)


def load_transaction_data(**kwargs: Any) -> pd.DataFrame:
    """lifetimes' synthetic log: ``date`` (strings, 2014) and ``id``, 15,273 rows."""
    return load_dataset("example_transactions.csv", **kwargs)


def load_cdnow_summary_data_with_monetary_value(**kwargs: Any) -> pd.DataFrame:
    """The CDNOW sample's summary with mean repeat spend, indexed by ``customer_id``:
    ``frequency, recency, T, monetary_value`` (lifetimes' names for ``x, t_x, T, zbar``)."""
    table = load_dataset("cdnow_customers_summary_with_transactions.csv", **kwargs)
    table.columns = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    return table.set_index("customer_id")

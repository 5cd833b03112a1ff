"""Bundled reference data sets from Fader & Hardie's papers, for examples and tests.

* CDNOW: purchases of the cohort of 23,570 customers who first bought at the online music store
  CDNOW in the first quarter of 1997, followed to the end of June 1998 (Fader, Hardie & Lee 2005,
  "Counting your customers the easy way", Marketing Science 24(2)). The sample is the 1-in-10
  subset of 2,357 customers used in that paper, and the summary its published calibration
  table (39 weeks to 1997-09-30).
* Donations: repeat-donation histories of the 1995 cohort of 11,104 first-time supporters of a
  nonprofit, over six annual opportunities (Fader, Hardie & Shang 2010, "Customer-base analysis
  in a discrete-time noncontractual setting", Marketing Science 29(6)).
* Retention cohorts: customers of two cohorts of 1,000 ("regular" and "high end") still active
  at the start of each year 0..12 (Fader & Hardie 2007, "How to project customer retention",
  Journal of Interactive Marketing 21(1)); years 0-7 are the calibration, 8-12 the holdout.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["data_file", "load_cdnow_summary", "load_cdnow_transactions", "load_donations",
           "load_retention_cohorts"]

_COLUMNS = ["customer_id", "date", "number_of_cds", "amount"]


def _data_dir() -> Path:
    """The folder holding the bundled files.

    A wheel carries the repository's ``data/`` as ``clvmodels/_data``; an editable install or a
    checkout reads ``data/`` beside the package.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data", here.parent / "data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"bundled data not found: looked for {here / '_data'} (installed wheel) and "
        f"{here.parent / 'data'} (source checkout); reinstall clvmodels"
    )


def data_file(name: str) -> Path:
    """The path of one bundled file (e.g. ``"CDNOW_sample.txt"``), for readers of the raw files.

    Raises
    ------
    FileNotFoundError
        If no bundled file has that name (a name, not a path: nothing outside the bundled
        folder is read).
    """
    path = _data_dir() / name
    if Path(name).name != name or not path.is_file():
        available = sorted(p.name for p in _data_dir().iterdir() if p.is_file())
        raise FileNotFoundError(f"no bundled data file {name!r}; the files are {available}")
    return path


def load_cdnow_transactions(sample: bool = True) -> pd.DataFrame:
    """Load the CDNOW transaction log.

    Parameters
    ----------
    sample : bool
        True for the 1-in-10 sample (6,919 transactions by 2,357 customers), False for the full
        cohort (69,659 transactions by 23,570 customers).

    Returns
    -------
    DataFrame
        One row per purchase, with ``customer_id`` (int; in the sample its ids 1..2357, which
        match :func:`load_cdnow_summary`), ``date`` (datetime64), ``number_of_cds`` (int) and
        ``amount`` (float, dollars). Purchases run from 1997-01-01 to 1998-06-30.
    """
    if sample:
        # Columns: original master id, sample id, date, CDs, dollars; no header.
        names = ["master_id", *_COLUMNS]
        log = pd.read_csv(_data_dir() / "CDNOW_sample.txt", sep=r"\s+", header=None, names=names)
    else:
        log = pd.read_csv(_data_dir() / "CDNOW_master.txt", sep=r"\s+", header=0, names=_COLUMNS)
    log = log[_COLUMNS].astype({"customer_id": "int64", "number_of_cds": "int64",
                                "amount": "float64"})
    log["date"] = pd.to_datetime(log["date"].astype(str), format="%Y%m%d")
    return log


def load_cdnow_summary() -> pd.DataFrame:
    """Load the published RFM summary of the CDNOW sample.

    Returns
    -------
    DataFrame
        2,357 rows indexed by ``customer_id``, with ``frequency`` (repeat purchases, int),
        ``recency`` and ``T`` (weeks, rounded to 2 decimals) and ``monetary_value`` (mean repeat
        spend in dollars, rounded to cents) over the 39-week calibration period ending
        1997-09-30. ``attrs`` records ``time_unit`` "W" and ``observation_end`` (an ISO
        string, JSON-safe like :func:`~clvmodels.rfm_summary`'s).
    """
    summary = pd.read_csv(_data_dir() / "cdnow_sample_summary.csv")
    summary = summary.rename(
        columns={"ID": "customer_id", "x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    ).set_index("customer_id")
    summary.attrs.update(time_unit="W", observation_end=pd.Timestamp("1997-09-30").isoformat())
    return summary


def load_donations() -> pd.DataFrame:
    """Load the donations data set in its compressed recency/frequency form.

    Returns
    -------
    DataFrame
        22 rows, one per (frequency, recency) pattern, with ``frequency`` (repeat donations in
        the 6 opportunities), ``recency`` (opportunity of the last donation, 0 if none),
        ``periods`` (6 for everyone) and ``weights`` (number of donors with that pattern,
        summing to 11,104). All int. The opportunities are years: ``attrs["time_unit"]``
        is "Y", as a BG/BB model fitted on the table records it.
    """
    donations = pd.read_csv(_data_dir() / "donations.csv").astype("int64")
    donations.attrs["time_unit"] = "Y"
    return donations


def load_retention_cohorts() -> pd.DataFrame:
    """Load the survival table of Fader & Hardie's (2007) two contractual cohorts.

    Source: Fader & Hardie (2007), "How to project customer retention", Journal of
    Interactive Marketing 21(1), 76-90: two cohorts of 1,000 customers acquired at year 0,
    followed for 12 annual renewals. The paper fits the sBG to years 0-7 (alpha = 0.668,
    beta = 3.806 for the high-end cohort; alpha = 0.704, beta = 1.182 for the regular one) and
    projects years 8-12.

    Returns
    -------
    DataFrame
        13 rows indexed by ``year`` (0..12), with ``regular`` and ``high_end``: the customers
        still active at the start of that year (int). ``attrs["time_unit"]`` is "Y". Turn a
        column into a contract table with :func:`clvmodels.cohort_to_customers`.
    """
    table = pd.read_csv(_data_dir() / "retention_cohorts.csv").astype("int64")
    table = table.set_index("year")
    table.attrs["time_unit"] = "Y"
    return table

"""CLVTools' apparel data with their static covariates, for the tests of covariates through the
API, the command line and the notebook: read from the reference folder (they are GPL, never
shipped), the test skipped, saying where they are looked for, without them."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

from clvmodels import rfm_summary

# The reference data sets beside the project (../shared/data from its root, which every
# developer's and CI's checkout has), or the folder CLVMODELS_REFERENCE_DATA names.
REFERENCE_DATA = Path(os.environ.get("CLVMODELS_REFERENCE_DATA",
                                     Path(__file__).resolve().parents[2] / "shared" / "data"))
TRANSACTIONS = REFERENCE_DATA / "apparel_transactions.csv"
COVARIATES = REFERENCE_DATA / "apparel_static_covariates.csv"


def run_config(path: Path, data: str = "", model: str = "", output: str = "run",
               name: str = "pnbd") -> Path:
    """A ``clvmodels run`` config at ``path`` for the apparel log summarised as CLVTools does
    (to 2006-12-31, in weeks): model ``name`` with ``model``'s lines added to [model] and
    ``data``'s to [data], valued over 52 weeks at 10% a year into folder ``output``."""
    path.write_text(f"""\
[data]
transactions = "{TRANSACTIONS}"
customer_col = "Id"
date_col = "Date"
amount_col = "Price"
observation_end = "2006-12-31"
time_unit = "W"
{data}
[model]
model = "{name}"
{model}
[predict]
horizon = 52
discount_rate = 0.1

[output]
directory = "{output}"
""")
    return path


def require_apparel() -> None:
    """Skip the calling test unless the apparel files are in the reference folder."""
    if not (TRANSACTIONS.exists() and COVARIATES.exists()):
        pytest.skip(f"the apparel reference data (CLVTools, GPL: not shipped) are not in "
                    f"{REFERENCE_DATA}; set CLVMODELS_REFERENCE_DATA to their folder")


def apparel_table(spend: bool = False) -> pd.DataFrame:
    """The apparel RFM table as CLVTools summarises it (the first purchase starts each
    customer, the calibration ends on 2006-12-31 (T to its end), in weeks), with the static
    covariates and, with ``spend``, the mean spend. Skips the test without the data."""
    require_apparel()
    log = pd.read_csv(TRANSACTIONS, parse_dates=["Date"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # later transactions are left out, as intended
        rfm = rfm_summary(log, "Id", "Date", "Price" if spend else None,
                          observation_end="2006-12-31", time_unit="W")
    return rfm.join(pd.read_csv(COVARIATES).set_index("Id"))


def apparel_with_spend() -> pd.DataFrame:
    """:func:`apparel_table` with the mean spend."""
    return apparel_table(spend=True)

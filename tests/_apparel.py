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

REFERENCE_DATA = Path(os.environ.get("CLVMODELS_REFERENCE_DATA", "/work/shared/data"))
TRANSACTIONS = REFERENCE_DATA / "apparel_transactions.csv"
COVARIATES = REFERENCE_DATA / "apparel_static_covariates.csv"


def require_apparel() -> None:
    """Skip the calling test unless the apparel files are in the reference folder."""
    if not (TRANSACTIONS.exists() and COVARIATES.exists()):
        pytest.skip(f"the apparel reference data (CLVTools, GPL: not shipped) are not in "
                    f"{REFERENCE_DATA}; set CLVMODELS_REFERENCE_DATA to their folder")


def apparel_with_spend() -> pd.DataFrame:
    """The apparel RFM table as CLVTools summarises it (the first purchase starts each
    customer, calibration to 2006-12-31, in weeks), with the spend and the covariates."""
    require_apparel()
    log = pd.read_csv(TRANSACTIONS, parse_dates=["Date"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # later transactions are left out, as intended
        rfm = rfm_summary(log, "Id", "Date", "Price", observation_end="2006-12-31",
                          time_unit="W")
    return rfm.join(pd.read_csv(COVARIATES).set_index("Id"))

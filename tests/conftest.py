"""Fixtures shared by the model tests."""

from __future__ import annotations

import pandas as pd
import pytest

from clvmodels import BetaGeoModel, GammaGammaModel, ParetoNBDModel, load_cdnow_summary


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    """The published CDNOW calibration summary (2,357 customers, weeks)."""
    return load_cdnow_summary()


@pytest.fixture(scope="session")
def fitted_bgnbd(cdnow) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow)


@pytest.fixture(scope="session")
def fitted_pnbd(cdnow) -> ParetoNBDModel:
    return ParetoNBDModel().fit(cdnow)


@pytest.fixture(scope="session")
def fitted_gg(cdnow) -> GammaGammaModel:
    return GammaGammaModel().fit(cdnow)

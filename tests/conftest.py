"""Fixtures shared by the model tests."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import settings

from clvmodels import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    load_cdnow_summary,
)

# The property tests draw the same examples on every machine and run (a random draw once
# found a failing row on CI only): `pytest` passes or fails for everyone alike. To hunt for
# new failures, run `pytest --hypothesis-profile explore` (fresh random examples each run;
# a failure prints the @reproduce_failure line that replays it).
settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile("deterministic")


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    """The published CDNOW calibration summary (2,357 customers, weeks)."""
    return load_cdnow_summary()


@pytest.fixture(scope="session")
def fitted_bgnbd(cdnow) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow)


@pytest.fixture(scope="session")
def fitted_mbgnbd(cdnow) -> ModifiedBetaGeoModel:
    return ModifiedBetaGeoModel().fit(cdnow)


@pytest.fixture(scope="session")
def fitted_pnbd(cdnow) -> ParetoNBDModel:
    return ParetoNBDModel().fit(cdnow)


@pytest.fixture(scope="session")
def fitted_gg(cdnow) -> GammaGammaModel:
    return GammaGammaModel().fit(cdnow)


@pytest.fixture(scope="session")
def cdnow_holdout_table() -> pd.DataFrame:
    """CDNOW sample: calibration to 1997-09-30, holdout counts to 1998-06-30 (39 weeks)."""
    from clvmodels import calibration_holdout, load_cdnow_transactions

    return calibration_holdout(load_cdnow_transactions(), amount_col="amount",
                               calibration_end="1997-09-30", observation_end="1998-06-30")


@pytest.fixture(scope="session")
def map_bgnbd(cdnow_holdout_table):
    """Bayesian BG/NBD on ``cdnow_holdout_table`` by the Laplace approximation (200 draws):
    a posterior of draws without a NUTS run, fitted once for the plotting and evaluation tests."""
    pytest.importorskip("pymc")
    from clvmodels import BayesianBetaGeoModel

    return BayesianBetaGeoModel().fit(cdnow_holdout_table, method="map", draws=200, chains=1,
                                      random_seed=1)


@pytest.fixture(scope="session")
def nuts_bgnbd(cdnow):
    """Bayesian BG/NBD on the published CDNOW summary with the default sampler and settings
    (4 chains x 1,000 draws after 1,000 tuning steps), fitted once for the Bayesian tests."""
    pytest.importorskip("pymc")
    from clvmodels import BayesianBetaGeoModel

    return BayesianBetaGeoModel().fit(cdnow, random_seed=2026)


@pytest.fixture(scope="session")
def nuts_gg(cdnow):
    """Bayesian Gamma-Gamma on the published CDNOW summary, default settings."""
    pytest.importorskip("pymc")
    from clvmodels import BayesianGammaGammaModel

    return BayesianGammaGammaModel().fit(cdnow, random_seed=2026)


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A folder holding ``transactions.csv`` (the CDNOW sample), and the ``rfm.csv`` and
    ``model/`` the command line (in-process) makes of it: the inputs of the file tests."""
    from clvmodels import load_cdnow_transactions
    from clvmodels.__main__ import main

    directory = tmp_path_factory.mktemp("cli_model")
    load_cdnow_transactions()[["customer_id", "date", "amount"]].to_csv(
        directory / "transactions.csv", index=False)
    assert main(["summarize", str(directory / "transactions.csv"), "-o",
                 str(directory / "rfm.csv"), "--observation-end", "1997-09-30", "-q"]) == 0
    assert main(["fit", str(directory / "rfm.csv"), "-o", str(directory / "model"), "-q"]) == 0
    return directory

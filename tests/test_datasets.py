"""Tests for clvmodels.datasets: sizes, types and where the files are found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clvmodels import datasets
from clvmodels.datasets import load_cdnow_summary, load_cdnow_transactions, load_donations


@pytest.mark.parametrize(("sample", "rows", "customers"), [(True, 6919, 2357),
                                                           (False, 69659, 23570)])
def test_cdnow_transactions(sample: bool, rows: int, customers: int) -> None:
    log = load_cdnow_transactions(sample=sample)
    assert list(log.columns) == ["customer_id", "date", "number_of_cds", "amount"]
    assert len(log) == rows
    assert log["customer_id"].nunique() == customers
    assert log["customer_id"].dtype == np.int64
    assert log["number_of_cds"].dtype == np.int64
    assert log["amount"].dtype == np.float64
    assert pd.api.types.is_datetime64_dtype(log["date"])
    assert log["date"].min() == pd.Timestamp("1997-01-01")
    assert log["date"].max() == pd.Timestamp("1998-06-30")


def test_cdnow_sample_ids_match_the_summary() -> None:
    log = load_cdnow_transactions()
    assert sorted(log["customer_id"].unique()) == list(range(1, 2358))
    assert log.iloc[0].tolist() == [1, pd.Timestamp("1997-01-01"), 2, 29.33]


def test_cdnow_summary(tmp_path) -> None:
    summary = load_cdnow_summary()
    assert len(summary) == 2357
    assert summary.index.name == "customer_id"
    assert list(summary.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert summary["frequency"].dtype == np.int64
    assert summary.loc[1].tolist() == [2, 30.43, 38.86, 22.35]
    assert summary.attrs == {"time_unit": "W", "observation_end": "1997-09-30T00:00:00"}
    summary.to_parquet(tmp_path / "cdnow.parquet")  # JSON-safe attrs: pandas writes them
    assert pd.read_parquet(tmp_path / "cdnow.parquet").attrs == summary.attrs


def test_donations() -> None:
    donations = load_donations()
    assert list(donations.columns) == ["frequency", "recency", "periods", "weights"]
    assert len(donations) == 22
    assert (donations.dtypes == np.int64).all()
    assert donations["weights"].sum() == 11104
    assert (donations["periods"] == 6).all()


def test_data_dir_prefers_the_installed_copy(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site-packages" / "clvmodels"
    (package / "_data").mkdir(parents=True)
    monkeypatch.setattr(datasets, "__file__", str(package / "datasets.py"))
    assert datasets._data_dir() == package / "_data"


def test_data_dir_falls_back_to_the_checkout() -> None:
    assert (datasets._data_dir() / "CDNOW_master.txt").is_file()


def test_data_dir_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "__file__", str(tmp_path / "clvmodels" / "datasets.py"))
    with pytest.raises(FileNotFoundError, match="bundled data not found"):
        datasets._data_dir()

"""The README's first command: ``clvmodels demo`` runs the whole pipeline on the bundled data."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import clvmodels
from clvmodels.__main__ import main


def test_demo_prints_published_parameters_and_equity(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps tables to the terminal
    assert "6,919 transactions by 2,357 customers" in out
    # Fader, Hardie & Lee (2005): r 0.243, alpha 4.414, a 0.793, b 2.426.
    for published in ("r │ 0.2426", "alpha │ 4.414", "a │ 0.7929", "b │ 2.426"):
        assert published in out
    # At the demo's margin of 100% the equity is revenue, and the line says so.
    assert ("Customer equity (revenue: margin 100%), next 52 weeks, 10%/year discount: $"
            in out)
    output = tmp_path / "output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clvmodels.toml", "output",
                                                          "transactions.csv"]
    assert sorted(p.name for p in output.iterdir()) == ["model", "report.html", "rfm.csv",
                                                        "rfm.csv.json", "scores.csv"]
    # The headline equals the Python API's customer equity with the same settings.
    log = clvmodels.load_cdnow_transactions()
    with pytest.warns(UserWarning, match="1959 transaction"):
        rfm = clvmodels.rfm_summary(log, amount_col="amount", observation_end="1997-09-30")
    equity = clvmodels.customer_equity(
        clvmodels.BetaGeoModel().fit(rfm), clvmodels.GammaGammaModel().fit(rfm), rfm,
        horizon=52, discount_rate=1.10 ** (7 / 365.25) - 1,
    )
    assert f"${equity.total:,.0f} (${equity.total / 2357:,.2f} per customer" in out
    # The decile table: every amount with its sign, in one precision per column.
    top = equity.segments.loc[1]
    assert (f"1 │ {int(top['customers']):,} │ ${top['equity']:,.0f} │ "
            f"{top['share_of_equity']:.1%} │ ${top['mean_clv']:,.2f} │ "
            f"{top['mean_probability_alive']:.2f}") in out
    scores = pd.read_csv(output / "scores.csv", index_col="customer_id")
    # Fitted from the CSV files (rows in another order, values an ulp apart), the optimiser
    # stops within ~1e-6 of the API's estimates (see tests/test_cli.py, PIPELINE_RTOL).
    assert scores["clv"].sum() == pytest.approx(equity.total, rel=1e-5)


def test_module_entry_point_writes_demo_folder_and_run_repeats_it(tmp_path):
    """``python -m clvmodels demo`` in a fresh folder, then ``run`` on the config it wrote."""
    result = subprocess.run([sys.executable, "-m", "clvmodels", "demo", "--horizon", "26"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "next 26 weeks" in result.stdout
    demo = tmp_path / "clvmodels-demo"
    assert "horizon = 26" in (demo / "clvmodels.toml").read_text()
    first = (demo / "output" / "scores.csv").read_bytes()
    rerun = subprocess.run([sys.executable, "-m", "clvmodels", "run",
                            str(demo / "clvmodels.toml"), "-q"],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout == "" and rerun.stderr == ""
    assert (demo / "output" / "scores.csv").read_bytes() == first


def test_unknown_command_exits_with_usage(capsys):
    assert main(["nonsense"]) == 2
    assert capsys.readouterr().err.strip() == (
        "clvmodels: error: No such command 'nonsense'. (see clvmodels --help)"
    )

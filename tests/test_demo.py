"""The README's first command: ``clvmodels demo`` runs the whole pipeline on the bundled data."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from _tolerances import assert_agrees_given_fits

import clvmodels
from clvmodels.__main__ import main
from clvmodels.files.model_directory import ModelDirectory


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
    api_models = clvmodels.BetaGeoModel().fit(rfm), clvmodels.GammaGammaModel().fit(rfm)

    def equity_of(transaction_model, spend_model):
        return clvmodels.customer_equity(transaction_model, spend_model, rfm, horizon=52,
                                         discount_rate=1.10 ** (7 / 365.25) - 1)

    def total(transaction_model, spend_model):
        return equity_of(transaction_model, spend_model).total

    equity = equity_of(*api_models)
    equity_total = equity.total
    assert f"${equity_total:,.0f} (${equity_total / 2357:,.2f} per customer" in out
    # The decile table: every amount with its sign, in one precision per column.
    top = equity.segments.loc[1]
    assert (f"1 │ {int(top['customers']):,} │ ${top['equity']:,.0f} │ "
            f"{top['share_of_equity']:.1%} │ ${top['mean_clv']:,.2f} │ "
            f"{top['mean_probability_alive']:.2f}") in out
    scores = pd.read_csv(output / "scores.csv", index_col="customer_id")
    # Fitted from the CSV files (rows in another order, values an ulp apart), the optimiser
    # stops at the same maximum but not the same point (see tests/_tolerances.py): the totals
    # agree to what that allows, plus the rounding of a sum of 2,357 CSV values (1e-12).
    demo = ModelDirectory.load(output / "model")
    assert_agrees_given_fits(scores["clv"].sum(), equity_total, total,
                             [(demo.transaction_model, api_models[0]),
                              (demo.spend_model, api_models[1])], rtol=1e-12)


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

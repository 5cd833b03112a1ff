"""Command line: ``clvmodels demo`` runs the whole pipeline on the bundled CDNOW data.

The full batch CLI (summarize / fit / predict / report / run) is planned; see the README.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import pandas as pd

from clvmodels.clv import customer_equity
from clvmodels.datasets import load_cdnow_transactions
from clvmodels.models import BetaGeoModel, GammaGammaModel
from clvmodels.rfm import rfm_summary

# 10% a year, as a weekly rate, for the demo's discounting.
_WEEKLY_DISCOUNT = 1.10 ** (1 / 52) - 1


def demo(horizon_weeks: float = 52.0) -> str:
    """CDNOW sample -> RFM (weeks, to 1997-09-30) -> BG/NBD + Gamma-Gamma -> CLV; a text report."""
    transactions = load_cdnow_transactions(sample=True)
    with warnings.catch_warnings():  # the later purchases are left out on purpose: reported below
        warnings.simplefilter("ignore", UserWarning)
        rfm = rfm_summary(
            transactions, customer_col="customer_id", date_col="date", amount_col="amount",
            observation_end="1997-09-30", time_unit="W",
        )
    transactions_model = BetaGeoModel().fit(rfm)
    spend_model = GammaGammaModel().fit(rfm)
    equity = customer_equity(
        transactions_model, spend_model, rfm, horizon=horizon_weeks, discount_rate=_WEEKLY_DISCOUNT
    )
    top = equity.clv.sort_values("clv", ascending=False).head(5)
    with pd.option_context("display.width", 120, "display.precision", 3):
        return "\n".join([
            f"CDNOW sample: {len(transactions):,} transactions, {len(rfm):,} customers, "
            f"calibration to 1997-09-30 (weeks; {rfm.attrs['n_transactions_excluded']:,} later "
            "transactions left out)",
            "",
            "BG/NBD parameters (published: r 0.243, alpha 4.414, a 0.793, b 2.426):",
            transactions_model.summary().to_string(),
            f"log-likelihood {transactions_model.log_likelihood_:.1f}",
            "",
            f"Gamma-Gamma parameters (fitted on {spend_model.n_customers_:.0f} repeat buyers):",
            spend_model.summary().to_string(),
            "",
            f"Customer equity, next {horizon_weeks:g} weeks, 10%/year discount: "
            f"${equity.total:,.0f} (${equity.total / len(rfm):,.2f} per customer)",
            equity.segments.to_string(),
            "",
            "Top 5 customers:",
            top.to_string(),
        ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clvmodels", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="fit and score the bundled CDNOW sample")
    demo_parser.add_argument("--horizon", type=float, default=52.0, help="weeks (default 52)")
    args = parser.parse_args(argv)
    print(demo(args.horizon))
    return 0


if __name__ == "__main__":
    sys.exit(main())

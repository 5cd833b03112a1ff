"""Benchmark :func:`clvmodels.rfm.rfm_summary` against lifetimes on a synthetic log.

Run from the repository root::

    python -m benchmarks.bench_rfm [--customers 1000000 --transactions-per-customer 10]

Both summaries are computed in days (``freq="D"``) over the same log in the same process and must
agree on every customer; the run exits with status 1 if they do not.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from benchmarks._common import (
    best_of,
    format_bytes,
    format_table,
    machine_description,
    max_rss_bytes,
    peak_allocated,
)
from clvmodels.rfm import rfm_summary

_START = np.datetime64("2022-01-01T00:00:00", "s")
_DAYS = 730
_TARGET_SPEEDUP = 3.0


def make_log(n_customers: int, per_customer: int, seed: int = 0) -> pd.DataFrame:
    """A shuffled log where each customer buys ``per_customer`` times at random moments."""
    rng = np.random.default_rng(seed)
    n_rows = n_customers * per_customer
    customers = rng.permutation(np.repeat(np.arange(n_customers, dtype=np.int64), per_customer))
    offsets = rng.integers(0, _DAYS * 86_400, size=n_rows).astype("timedelta64[s]")
    return pd.DataFrame({
        "customer_id": customers,
        "date": (_START + offsets).astype("datetime64[ns]"),
        "amount": rng.gamma(2.0, 20.0, size=n_rows).round(2),
    })


def _ours(log: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    return rfm_summary(log, amount_col="amount", observation_end=end, time_unit="D")


def _lifetimes(log: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        log, "customer_id", "date", monetary_value_col="amount", observation_period_end=end,
        freq="D",
    )


def _max_difference(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, float]:
    """Largest absolute difference per column, over all customers (inf if the ids differ)."""
    if not ours.index.equals(theirs.index.sort_values()):
        return {column: float("inf") for column in ours.columns}
    theirs = theirs.loc[ours.index]
    return {
        column: float(np.max(np.abs(ours[column].to_numpy(float) - theirs[column].to_numpy())))
        for column in ours.columns
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; return 1 if the two summaries disagree."""
    parser = argparse.ArgumentParser(
        description="Time rfm_summary against lifetimes on a synthetic transaction log."
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions-per-customer", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the fastest counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    log = make_log(args.customers, args.transactions_per_customer, args.seed)
    end = pd.Timestamp(_START) + pd.Timedelta(days=_DAYS - 1)
    ours, our_seconds = best_of(args.repeat, _ours, log, end)
    theirs, their_seconds = best_of(args.repeat, _lifetimes, log, end)
    # Measured in a separate call: tracing would slow the timed one.
    _, our_peak = peak_allocated(_ours, log, end)
    differences = _max_difference(ours, theirs)
    agree = all(differences[c] == 0 for c in ("frequency", "recency", "T")) and (
        differences["monetary_value"] <= 1e-9
    )
    speedup = their_seconds / our_seconds

    print(f"RFM summary benchmark: {len(log):,} transactions, {args.customers:,} customers, "
          f"{_DAYS} days from {pd.Timestamp(_START).date()}, time unit days, best of "
          f"{args.repeat}")
    print(f"machine: {machine_description()}")
    print(format_table(
        ["implementation", "wall s", "peak allocated during call"],
        [
            ["clvmodels.rfm.rfm_summary", f"{our_seconds:.2f}", format_bytes(our_peak)],
            ["lifetimes summary_data_from_transaction_data", f"{their_seconds:.2f}",
             "not measured"],
        ],
    ))
    verdict = "met" if speedup >= _TARGET_SPEEDUP else "NOT met"
    print(f"speed-up: {speedup:.1f}x (target >= {_TARGET_SPEEDUP:.0f}x: {verdict})")
    print(f"input DataFrame: {format_bytes(log.memory_usage(deep=True).sum())}; "
          f"process peak RSS (both runs and the input): {format_bytes(max_rss_bytes())}")
    print("largest difference over all customers: "
          + ", ".join(f"{c} {d:.3g}" for c, d in differences.items())
          + f" -> {'agree' if agree else 'DISAGREE'}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())

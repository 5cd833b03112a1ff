"""Helpers shared by the benchmarks: timing, memory, a machine description and a table."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd


def machine_description() -> str:
    """One line naming the CPU count, platform and the Python, numpy and pandas versions."""
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}), {platform.platform()}, "
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
    )


def timed(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``func`` and return its result and the wall-clock seconds it took."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def best_of(repeat: int, func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``func`` ``repeat`` times; return the last result and the fastest wall time."""
    runs = [timed(func, *args, **kwargs) for _ in range(repeat)]
    return runs[-1][0], min(seconds for _, seconds in runs)


def peak_allocated(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Call ``func`` under tracemalloc; return its result and the peak bytes it allocated.

    numpy and pandas report their data buffers to tracemalloc, so this counts the arrays a call
    creates on top of what existed before it (its input is not included). Tracing slows
    Python-level allocation, so time calls separately with :func:`timed`.
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        result = func(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak - baseline


def max_rss_bytes() -> int:
    """Peak resident memory of this process so far (everything it has held at once)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss if sys.platform == "darwin" else rss * 1024


def format_bytes(n_bytes: float) -> str:
    """Bytes as a short human-readable string (binary units)."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB"):
        if abs(value) < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with left-aligned columns."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

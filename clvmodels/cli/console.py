"""What the command line shows: progress and notes on stderr, results on stdout, and the
library's errors about the user's data turned into one-line batch errors."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from clvmodels.errors import ConvergenceError, DataError, FitError
from clvmodels.presentation import caught_user_warnings
from clvmodels.validation import ValidationError


class Reporter:
    """Progress on stderr (rich, one live line per step) and result tables on stdout.

    ``quiet`` silences both; errors are printed by :func:`main` whatever it says.
    """

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @contextmanager
    def step(
        self, description: str, *, total: int | None = None, live: bool = True
    ) -> Iterator[Callable[[], None]]:
        """Show progress while the block runs, and a done line with the time after it.

        Yields a function the block calls after each of ``total`` parts (a bar then shows
        them; without ``total``, a spinner with the elapsed time). The live display only runs
        on a terminal (a log file gets the done lines alone), and not with ``live=False``:
        steps that draw their own progress bar (the Bayesian samplers) get a start line
        instead, since rich shows one live display at a time.
        """
        if self.quiet:
            yield lambda: None
            return
        start = time.perf_counter()
        if live and self.shows_progress:
            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if total is not None:
                columns += [BarColumn(), MofNCompleteColumn()]
            with Progress(*columns, TimeElapsedColumn(), console=self.err,
                          transient=True) as progress:
                task = progress.add_task(description, total=total)
                yield lambda: progress.advance(task)
        else:
            if not live:
                self.err.print(f"{description} ...", markup=False)
            yield lambda: None
        elapsed = time.perf_counter() - start
        self.err.print(f"[green]done[/] {escape(description)} ({elapsed:.1f} s)")

    @property
    def shows_progress(self) -> bool:
        """Whether progress bars are wanted (not quiet, and stderr is a terminal)."""
        return not self.quiet and self.err.is_terminal

    def note(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"note: {message}", markup=False)

    def line(self, text: str = "") -> None:
        if not self.quiet:
            self.out.print(text, markup=False)

    def table(self, frame: pd.DataFrame, title: str) -> None:
        """A table on stdout, its index as the first column."""
        if self.quiet:
            return
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column(str(frame.index.name or ""), style="bold")
        for column in frame.columns:
            table.add_column(str(column), justify="right")
        for label, row in frame.iterrows():
            table.add_row(escape(str(label)), *(escape(format_cell(v)) for v in row))
        self.out.print(table)


def format_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# The library's messages name its keyword arguments; the command line has options instead.
OPTION_NAMES = {
    "customer_col=...": "--customer-col", "date_col=...": "--date-col",
    "amount_col=...": "--amount-col", "date_format=...": "--date-format",
    "date_format=": "--date-format ", "pass a later observation_end": "pass a later "
    "--observation-end", "timezone=...": "--timezone", "timezone=": "--timezone ",
    # time-varying covariates (clvmodels.cli.time_varying)
    "with customer_col= and date_col=": "with --covariate-customer-col and "
    "--covariate-date-col", "(transactions=)": "(--transactions)",
    "time_varying_covariates: ": "--time-varying-covariates: ",
}


def in_cli_terms(message: str) -> str:
    for keyword, option in OPTION_NAMES.items():
        message = message.replace(keyword, option)
    return message


@contextmanager
def user_errors(action: str, *, values: bool = True) -> Iterator[None]:
    """Turn the library's errors about the user's data into one-line batch errors.

    ``values`` also takes any ValueError or TypeError for one about a value the user chose
    (the library raises those for dates, units, horizons, holdout periods); without it only
    ValidationError is, so that a bug in a step with no such values keeps its traceback.
    """
    user_errors = (ValueError, TypeError) if values else (ValidationError,)
    try:
        yield
    except ConvergenceError as error:
        raise FitError(f"{action}: {error}") from None
    except user_errors as error:
        raise DataError(f"{action}: {in_cli_terms(str(error))}") from None


PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # clvmodels/, not clvmodels/cli/


@contextmanager
def warnings_as_notes(reporter: Reporter, kept: list[str] | None = None) -> Iterator[None]:
    """Show the UserWarnings of a block as notes (one line each, unless quiet); ``kept``
    collects those clvmodels itself raised (about the data or the fit, e.g. R-hat, not the
    environment's, e.g. PyTensor's missing BLAS) for the model manifest and the report."""
    with caught_user_warnings() as caught:
        yield
    seen = set()
    for warning in caught:
        message = in_cli_terms(str(warning.message))
        if message in seen:
            continue
        seen.add(message)
        reporter.note(" ".join(message.split()))
        if kept is not None and str(warning.filename).startswith(PACKAGE_DIR):
            kept.append(message)


__all__ = ["OPTION_NAMES", "Reporter", "format_cell", "in_cli_terms", "user_errors",
           "warnings_as_notes"]

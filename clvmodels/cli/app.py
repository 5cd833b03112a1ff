"""The typer application: its global options, its exit codes and the entry point's error
handling (one line on stderr and an exit code for every error the user can fix)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from clvmodels.cli.options import command as _register
from clvmodels.display import progress_setting
from clvmodels.errors import (
    EXIT_BUG,
    EXIT_DATA,
    EXIT_DEPENDENCY,
    EXIT_FIT,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    BatchError,
)
from clvmodels.estimation.base import package_version

#: Exit code -> meaning, for schedulers (also in ``clvmodels --help``).
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_BUG: "unexpected error (a bug: the traceback is printed; please report it)",
    EXIT_USAGE: "bad command line or config file (unknown option, model name, value)",
    EXIT_INPUT: "an input file or model directory is missing or unreadable",
    EXIT_DATA: "invalid input data (missing column, bad date, negative amount, ...)",
    EXIT_FIT: "the model fit did not converge",
    EXIT_OUTPUT: "an output cannot be written",
    EXIT_DEPENDENCY: "an optional dependency is missing (pyarrow, the Bayesian extra)",
    EXIT_INTERRUPTED: "interrupted",
}
EPILOG = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())

app = typer.Typer(
    name="clvmodels",
    help="Customer lifetime value from transaction logs: summarize, fit, predict, report.",
    epilog=EPILOG,
    add_completion=False,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
#: Declares a command of :data:`app` (see :func:`clvmodels.cli.options.command`).
command = _register(app)


def _print_version(value: bool) -> None:
    if value:
        print(f"clvmodels {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the package version and exit.")] = None,
) -> None:
    """Customer lifetime value from transaction logs: summarize, fit, predict, report."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (see :data:`EXIT_CODES`).

    Errors the user can fix are printed as one line on stderr; set ``CLVMODELS_DEBUG=1`` to
    get their tracebacks too. Anything else is a bug and keeps its traceback (exit code 1).
    SIGTERM (what schedulers send on a timeout) is handled like SIGINT (Ctrl-C): the outputs
    being written are abandoned, the previous ones stay, and the exit code is 130.
    """
    command_line = typer.main.get_command(app)
    try:
        # The commands draw their own progress (clvmodels.cli.console), the library none.
        with _sigterm_as_interrupt(), progress_setting(False):
            result = command_line.main(args=argv, prog_name="clvmodels",
                                       standalone_mode=False)
    except BatchError as error:
        return fail(error, str(error), error.exit_code)
    except typer.TyperException as error:  # usage errors: unknown option, bad value ...
        context = getattr(error, "ctx", None)
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        return fail(error, error.format_message() + hint, error.exit_code or EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt) as error:
        return fail(error, "interrupted", EXIT_INTERRUPTED)
    if result == EXIT_INTERRUPTED:  # typer returns an interrupt as this code, without a word
        return fail(KeyboardInterrupt(), "interrupted", EXIT_INTERRUPTED)
    return result if isinstance(result, int) else EXIT_OK


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Raise KeyboardInterrupt on SIGTERM while the block runs (main thread only)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fail(error: BaseException, message: str, code: int) -> int:
    """Print ``message`` as the one error line (or raise ``error`` with CLVMODELS_DEBUG) and
    return ``code``."""
    if os.environ.get("CLVMODELS_DEBUG", "") not in ("", "0"):
        raise error
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"clvmodels: error: {' '.join(message.split())}", markup=False
    )
    return code


__all__ = ["EPILOG", "EXIT_CODES", "app", "command", "fail", "main"]

"""The errors clvmodels raises besides :class:`clvmodels.ValidationError` (bad input data).

The batch errors carry the exit code the command line returns for them (see
``clvmodels --help``), so that a scheduler can tell a missing file from invalid data.
"""

from __future__ import annotations

# Exit codes of the command line, documented in its help and the README.
EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_DATA = 4
EXIT_FIT = 5
EXIT_OUTPUT = 6
EXIT_DEPENDENCY = 7
EXIT_INTERRUPTED = 130


class ConvergenceError(RuntimeError):
    """Raised when the optimiser cannot find a maximum of the likelihood."""


class DegenerateFitWarning(UserWarning):
    """A maximum-likelihood estimate on the edge of the search box, without finite standard
    errors, or with a parameter the data hardly determine: the likelihood has no proper
    maximum inside the model (degenerate data: e.g. customers all alike, purchases all at the
    end of the period, or a few extreme customers), so the estimate is a limit the optimiser
    stopped at. Its predictions are computed all the same; treat them with caution."""


class BatchError(Exception):
    """An error the user can act on: reported as one line, with an exit code for schedulers."""

    exit_code = EXIT_BUG


class InputFileError(BatchError):
    """An input file is missing or cannot be read."""

    exit_code = EXIT_INPUT


class DataError(BatchError):
    """An input holds invalid data (bad column, value, date, model file ...)."""

    exit_code = EXIT_DATA


class FitError(BatchError):
    """A model could not be fitted to the data."""

    exit_code = EXIT_FIT


class OutputFileError(BatchError, OSError):
    """An output cannot be written (an OSError too, for code that catches those)."""

    exit_code = EXIT_OUTPUT


class DependencyError(BatchError, ImportError):
    """An optional dependency the request needs is not installed (an ImportError too)."""

    exit_code = EXIT_DEPENDENCY


__all__ = ["BatchError", "ConvergenceError", "DataError", "DegenerateFitWarning",
           "DependencyError", "FitError", "InputFileError", "OutputFileError"]

"""The ``clvmodels`` command line: batch CLV scoring without Python code.

Subcommands chain through files::

    clvmodels summarize transactions.csv -o rfm.csv          # transaction log -> RFM table
    clvmodels fit rfm.csv --model bgnbd -o model/            # RFM -> model directory
    clvmodels predict model/ rfm.csv --horizon 52 -o scores.csv
    clvmodels report model/ rfm.csv --horizon 52 --transactions transactions.csv -o report.html
    clvmodels run clvmodels.toml                             # all of it, from one config file
    clvmodels demo                                           # all of it, on the bundled CDNOW data

Errors a user can fix are one line on stderr (``clvmodels: error: ...``) and an exit code a
scheduler can act on (see :data:`EXIT_CODES`); a traceback means a bug (set
``CLVMODELS_DEBUG=1`` to see tracebacks for every error).

The package: :mod:`~clvmodels.cli.app` (the typer application, exit codes, entry point),
:mod:`~clvmodels.cli.commands` (one step each), :mod:`~clvmodels.cli.pipeline` (``run`` and
``demo``, the config), :mod:`~clvmodels.cli.steps` (what the commands chain),
:mod:`~clvmodels.cli.console` (progress, notes, tables) and :mod:`~clvmodels.cli.options`
(option types and checks). The files it reads and writes are :mod:`clvmodels.files`.
"""

from __future__ import annotations

from clvmodels.cli.app import EXIT_CODES, app, main
from clvmodels.cli.commands import fit, predict, report, summarize
from clvmodels.cli.pipeline import demo, run

__all__ = ["EXIT_CODES", "app", "demo", "fit", "main", "predict", "report", "run", "summarize"]

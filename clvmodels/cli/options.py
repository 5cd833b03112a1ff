"""The command line's options: their types, checks and help, and how commands are declared.

Choice options are checked with a plain message (typer's own check prefixes pydantic's
"Value error, "), usage lines are in the usual notation (``fit [OPTIONS] RFM``, not typer's
``{rfm}``) and command summaries are never cut short.
"""

from __future__ import annotations

import codecs
import difflib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer
import typer.core

from clvmodels.cli.console import in_cli_terms
from clvmodels.engines.window import parse_end_date
from clvmodels.files.tables import require_pyarrow, table_kind
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError

ENGINES = ("pandas", "duckdb")
BAYES_METHODS = ("nuts", "map")

_F = TypeVar("_F", bound=Callable[..., Any])


# ----------------------------------------------------------------------------- values
def time_unit(value: str) -> str:
    """A ``--time-unit`` as its code (``weeks`` -> ``W``)."""
    try:
        return TimeUnit.parse(value).value
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def encoding(value: str) -> str:
    """A text encoding Python knows (``latin-1``, ``cp1252``, ``utf-8-sig`` ...)."""
    try:
        codecs.lookup(value)
    except LookupError:
        raise typer.BadParameter(f"unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252)"
                                 ) from None
    return value


def table_path(value: Path | None) -> Path | None:
    """An output table path with a known extension, checked before any work is done."""
    if value is not None:
        try:
            kind = table_kind(value)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        if kind == "parquet":
            require_pyarrow(value)
    return value


def html_path(value: Path) -> Path:
    """An output report path ending in ``.html``."""
    if value.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(f"{value}: expected a file name ending in .html")
    return value


def parse_date(value: str | None, option: str, date_format: str | None = None
               ) -> pd.Timestamp | None:
    """A date option (``option`` names it in messages), read as the engines read end dates."""
    if value is None:
        return None
    try:
        return parse_end_date(value, date_format)
    except ValidationError as error:  # a date, but its day/month order is ambiguous
        raise typer.BadParameter(in_cli_terms(str(error)), param_hint=option) from None
    except (ValueError, TypeError) as error:
        raise typer.BadParameter(f"{value!r} is not a date ({error})", param_hint=option) from None


def choice(*allowed: str) -> Callable[[str | None], str | None]:
    """An option callback refusing values outside ``allowed`` (with a close match as a hint)."""

    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(not_one_of(value, allowed))
        return value

    return check


def not_one_of(value: object, allowed: tuple[str, ...] | Mapping[str, Any]) -> str:
    """``'bgnbdx' is not one of 'bgnbd', 'pnbd' (did you mean 'bgnbd'?)``."""
    allowed = tuple(allowed)
    message = f"{value!r} is not one of {', '.join(map(repr, allowed))}"
    close = difflib.get_close_matches(str(value), allowed, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


def choice_metavar(*allowed: str) -> str:
    return "<" + "|".join(allowed) + ">"


class UsageCommand(typer.core.TyperCommand):
    """A command whose usage line names arguments the usual way: ``clvmodels fit [OPTIONS]
    RFM`` (typer writes required arguments in braces, ``{rfm}``, which reads as syntax)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperArgument):
                name = (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


def command(app: typer.Typer) -> Callable[[_F], _F]:
    """``app.command()`` with the plain usage line and the docstring's whole first paragraph
    as the summary in ``--help`` (typer cuts it at ~45 characters, mid-sentence)."""

    def register(function: _F) -> _F:
        summary = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0]
        app.command(cls=UsageCommand, short_help=" ".join(summary.split()))(function)
        return function

    return register


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
TimeUnitOption = Annotated[
    str, typer.Option("--time-unit", callback=time_unit,
                      help="Unit of recency, T and horizons: h, D, W, M or Y (or hour, day, ...).")
]
Horizon = Annotated[
    float, typer.Option("--horizon", help="Forecast horizon in the model's time unit (e.g. 52 "
                        "weeks); inf for the whole lifetime (needs --discount-rate).")
]
DiscountRate = Annotated[
    float, typer.Option("--discount-rate", help="Discount rate per YEAR (0.1 = 10%); converted "
                        "to the model's time unit.")
]
Margin = Annotated[float, typer.Option("--margin", help="Share of revenue that is profit.")]
Payment = Annotated[float, typer.Option(
    "--payment", min=0, help="sbg/bdw: payment per renewal period (default 1: value in "
    "payments).")]
Level = Annotated[float, typer.Option("--level", help="Mass of Bayesian intervals.")]
ModelDir = Annotated[Path, typer.Argument(help="Model directory written by clvmodels fit.")]
RfmFile = Annotated[Path, typer.Argument(help="RFM table (.csv or .parquet) from summarize.")]


__all__ = ["BAYES_METHODS", "ENGINES", "DiscountRate", "Horizon", "Level", "Margin", "ModelDir",
           "Payment", "Quiet", "RfmFile", "TimeUnitOption", "UsageCommand", "choice",
           "choice_metavar", "command", "encoding", "html_path", "not_one_of", "parse_date",
           "table_path", "time_unit"]

"""The commands of the whole pipeline: ``run`` (from a TOML config) and ``demo``.

A config has the sections of :data:`CONFIG_SCHEMA`; every key is checked (type, known name)
and missing ones take the defaults of the single-step commands.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from clvmodels.cli.app import command
from clvmodels.cli.console import Reporter
from clvmodels.cli.covariates import (
    CovariateSettings,
    fit_covariates,
    names_from_config,
    with_covariates,
)
from clvmodels.cli.options import ENGINES, Quiet, html_path, not_one_of, parse_date, table_path
from clvmodels.cli.options import encoding as check_encoding
from clvmodels.cli.options import time_unit as parse_time_unit
from clvmodels.cli.steps import (
    FitSettings,
    SummarizeSettings,
    check_holdout_end,
    check_values,
    fit_models,
    print_equity,
    print_parameters,
    read_transactions,
    save_models,
    score_customers,
    summarize_file,
    write_report,
    write_scores,
)
from clvmodels.cli.time_varying import TimeVaryingSettings
from clvmodels.errors import InputFileError
from clvmodels.files import manifest as model_files
from clvmodels.files import tables
from clvmodels.files.atomic import staged, write_text
from clvmodels.scoring import ValueSettings

_REQUIRED = object()

CONFIG_SCHEMA: dict[str, dict[str, tuple[type | tuple[type, ...], Any]]] = {
    "data": {
        "transactions": (str, _REQUIRED), "customer_col": (str, "customer_id"),
        # amount_col defaults to "amount", or to none (counts only) with [model] spend = "none"
        "date_col": (str, "date"), "amount_col": (str, None), "date_format": (str, None),
        "observation_end": (str, None), "time_unit": (str, "W"), "engine": (str, "pandas"),
        "encoding": (str, "utf-8"), "timezone": (str, None),
        # calendar periods of a discrete-time summary (for model = "bgbb"), or continuous time
        "period": (str, None),
        # a table of static covariates by customer (see clvmodels.cli.covariates)
        "covariates": (str, None),
        # model = "pnbd": a long table of covariates by customer and period, to the end of the
        # horizon (see clvmodels.cli.time_varying); the log is read for the purchases' dates
        "time_varying_covariates": (str, None), "covariate_customer_col": (str, None),
        "covariate_date_col": (str, "date"),
    },
    "model": {
        "model": (str, "bgnbd"), "spend": (str, "gamma-gamma"), "bayesian": (bool, False),
        "penalizer": ((int, float), 0.0), "method": (str, "nuts"), "draws": (int, 1000),
        "tune": (int, 1000), "chains": (int, 4), "seed": (int, None),
        "purchase_covariates": (list, None), "dropout_covariates": (list, None),
        "spend_covariates": (list, None),
    },
    "predict": {
        "horizon": ((int, float), _REQUIRED), "discount_rate": ((int, float), 0.0),
        "margin": ((int, float), 1.0), "level": ((int, float), 0.9),
    },
    "report": {"holdout_end": (str, None), "top": (int, 20)},
    "output": {
        "directory": (str, "."), "rfm": (str, "rfm.csv"), "model": (str, "model"),
        "scores": (str, "scores.csv"), "report": (str, "report.html"),
    },
}


def read_config(path: Path) -> dict[str, dict[str, Any]]:
    """A ``run`` config with every key checked and defaults filled in.

    Raises
    ------
    InputFileError
        If the file is missing.
    typer.BadParameter
        For TOML syntax errors, unknown sections or keys, wrong types or missing keys.
    """
    if not path.is_file():
        raise InputFileError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise typer.BadParameter(f"{path}: {error}", param_hint="CONFIG") from None
    config: dict[str, dict[str, Any]] = {}
    unknown = sorted(set(raw) - set(CONFIG_SCHEMA))
    if unknown:
        raise typer.BadParameter(
            f"{path}: unknown section(s) {unknown}; expected {list(CONFIG_SCHEMA)}",
            param_hint="CONFIG")
    for section, keys in CONFIG_SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise typer.BadParameter(f"{path}: [{section}] must be a table", param_hint="CONFIG")
        unknown = sorted(set(given) - set(keys))
        if unknown:
            raise typer.BadParameter(
                f"{path}: unknown key(s) {unknown} in [{section}]; expected some of {list(keys)}",
                param_hint="CONFIG")
        values = {}
        for key, (kind, default) in keys.items():
            if key not in given:
                if default is _REQUIRED:
                    raise typer.BadParameter(f"{path}: [{section}] needs {key} = ...",
                                             param_hint="CONFIG")
                values[key] = default
                continue
            value = given[key]
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                expected = kind.__name__ if isinstance(kind, type) else "a number"
                raise typer.BadParameter(
                    f"{path}: [{section}] {key} = {value!r} should be {expected}",
                    param_hint="CONFIG")
            values[key] = value
        config[section] = values
    return config


def run_pipeline(config: dict[str, dict[str, Any]], base: Path, reporter: Reporter) -> dict:
    """summarize -> fit -> predict -> report as one job; paths relative to ``base``.

    Every output is staged beside its destination and all of them replace the previous ones
    together at the end (:mod:`clvmodels.files.atomic`): a run that fails (or is
    interrupted) on the way leaves every previous output as it was. With the DuckDB engine
    the report's transaction log is read by DuckDB too.

    Returns the paths written, by output name.
    """
    data, fit_config, value_config = config["data"], config["model"], config["predict"]
    out = config["output"]
    directory = base / out["directory"]
    paths = {name: directory / out[name] for name in ("rfm", "model", "scores", "report")}
    for name in ("rfm", "scores"):
        table_path(paths[name])
    html_path(paths["report"])
    fit_config = dict(fit_config)
    named = CovariateSettings(
        None if data["covariates"] is None else base / data["covariates"],
        *(names_from_config(fit_config.pop(f"{process}_covariates"), f"{process}_covariates")
          for process in ("purchase", "dropout", "spend")))
    fit_settings = FitSettings(**fit_config)
    fit_settings.check(lambda key: f"[model] {key}")
    transactions_path = base / data["transactions"]
    tables_given = data["time_varying_covariates"]
    varying = TimeVaryingSettings(
        None if tables_given is None else base / tables_given, data["covariate_customer_col"],
        data["covariate_date_col"], None if tables_given is None else transactions_path)
    varying.check(fit_settings.model, fit_settings.bayesian, named, config_key)
    named = fit_covariates(named, fit_settings.model, fit_settings.spend,
                           fit_settings.bayesian, config_key)
    if data["engine"] not in ENGINES:
        raise typer.BadParameter(not_one_of(data["engine"], ENGINES),
                                 param_hint="[data] engine")
    amount_col = data["amount_col"]
    if amount_col is None and fit_settings.spend != model_files.NO_SPEND_MODEL:
        amount_col = "amount"
    try:
        encoding = check_encoding(data["encoding"])
    except typer.BadParameter as error:
        raise typer.BadParameter(error.message, param_hint="[data] encoding") from None
    settings = SummarizeSettings(
        **{key: data[key] for key in ("customer_col", "date_col", "date_format",
                                      "observation_end", "engine", "timezone", "period")},
        amount_col=amount_col, time_unit=parse_time_unit(data["time_unit"]), encoding=encoding,
    )
    settings.check(lambda key: f"[data] {key}")
    parse_date(data["observation_end"], "observation_end", data["date_format"])
    holdout_end = parse_date(config["report"]["holdout_end"], "holdout_end", data["date_format"])
    values = ValueSettings(**value_config)
    check_values(values, lambda key: f"[predict] {key}")
    rfm, log = summarize_file(transactions_path, settings, reporter)
    check_holdout_end(holdout_end, rfm, "holdout_end")
    fit_table = with_covariates(rfm, named.path, varying.static_columns(named),
                                "[data] covariates", str(transactions_path))
    # One covariate table serves the fit and the predictions (its periods reach the horizon).
    fit_options = varying.fit_options(fit_table, reporter)
    periods = fit_options.get("time_varying_covariates")
    with staged() as outputs:
        tables.write_table(rfm, paths["rfm"], metadata=rfm.attrs["metadata"], staging=outputs)
        models = fit_models(fit_table, fit_settings, str(paths["rfm"]), reporter, named,
                            fit_options)
        save_models(models, paths["model"], reporter, outputs)
        print_parameters(models, reporter)
        scores = score_customers(models, fit_table, values, reporter, periods)
        with reporter.step(f"Writing {paths['scores']}"):
            write_scores(scores, paths["scores"], models, str(paths["rfm"]), outputs)
        print_equity(scores, reporter)
        if log is None:  # summarised out of core; the report's plots need it in memory
            with reporter.step(f"Reading {transactions_path} with DuckDB for the report"):
                log = read_transactions(transactions_path, settings)
        write_report(models, fit_table, scores, paths["report"], reporter, transactions=log,
                     holdout_end=holdout_end, top=config["report"]["top"], staging=outputs,
                     periods=periods)
    return paths


def config_key(key: str) -> str:
    """A setting as a config file names it: ``[data] covariates``, ``[model] bayesian``."""
    return f"[data] {key}" if key in CONFIG_SCHEMA["data"] else f"[model] {key}"


@command
def run(
    config: Annotated[Path, typer.Argument(help="TOML config file (see clvmodels demo).")],
    quiet: Quiet = False,
) -> None:
    """Run summarize, fit, predict and report from one config file (for scheduled jobs)."""
    reporter = Reporter(quiet)
    paths = run_pipeline(read_config(config), config.parent, reporter)
    print_outputs(paths, reporter)


def print_outputs(paths: dict[str, Path], reporter: Reporter) -> None:
    reporter.line("Wrote " + ", ".join(f"{name} {path}" for name, path in paths.items()))


DEMO_CONFIG = """\
# clvmodels run configuration (written by clvmodels demo). Paths are relative to this file.
[data]
transactions = "transactions.csv"   # one row per purchase
customer_col = "customer_id"
date_col = "date"
amount_col = "amount"
observation_end = "1997-09-30"      # calibrate on the first 39 weeks
time_unit = "W"

[model]
model = "bgnbd"                     # or "pnbd"
spend = "gamma-gamma"               # or "none": purchase counts only (no amount column)
bayesian = false                    # true: PyMC (needs clvmodels[bayes]); method, draws, ...

[predict]
# horizon in time units (weeks); the discount rate is per year
horizon = {horizon}
discount_rate = 0.10
margin = 1.0                        # share of revenue that is profit (1.0: equity is revenue)

[report]
holdout_end = "1998-06-30"          # compare the forecast with the later purchases
top = 20

[output]
directory = "output"
rfm = "rfm.csv"
model = "model"
scores = "scores.csv"
report = "report.html"
"""


@command
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the demo's files.")] = (
        Path("clvmodels-demo")
    ),
    # An int default, so that --help shows 52, not 52.0.
    horizon: Annotated[float, typer.Option(help="Weeks to value.")] = 52,
    quiet: Quiet = False,
) -> None:
    """Run the whole pipeline on the bundled CDNOW sample (writes a config you can rerun)."""
    from clvmodels.datasets import load_cdnow_transactions

    reporter = Reporter(quiet)
    if not horizon > 0:
        raise typer.BadParameter(f"must be > 0, got {horizon}", param_hint="--horizon")
    log = load_cdnow_transactions(sample=True)[["customer_id", "date", "amount"]]
    tables.write_table(log.set_index("customer_id"), output / "transactions.csv")
    config_path = output / "clvmodels.toml"
    write_text(config_path, DEMO_CONFIG.replace("{horizon}", f"{horizon:g}"))
    reporter.line(
        f"CDNOW sample: {len(log):,} transactions by {log['customer_id'].nunique():,} customers "
        "(published BG/NBD fit to 1997-09-30: r 0.243, alpha 4.414, a 0.793, b 2.426)"
    )
    paths = run_pipeline(read_config(config_path), output, reporter)
    print_outputs(paths, reporter)
    reporter.line(f"Rerun with: clvmodels run {config_path}; open {paths['report']} in a browser.")


__all__ = ["CONFIG_SCHEMA", "DEMO_CONFIG", "demo", "read_config", "run", "run_pipeline"]

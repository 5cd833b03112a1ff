"""The commands of one step each: ``summarize``, ``fit``, ``predict`` and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clvmodels.cli import contract
from clvmodels.cli.app import command
from clvmodels.cli.console import Reporter
from clvmodels.cli.covariates import (
    CovariateSettings,
    CovariatesFile,
    DropoutCovariates,
    PurchaseCovariates,
    SpendCovariates,
    attach_for_models,
    fit_covariates,
    parse_names,
    refuse_contract_covariates,
    with_covariates,
)
from clvmodels.cli.options import (
    BAYES_METHODS,
    ENGINES,
    DiscountRate,
    Horizon,
    Level,
    Margin,
    ModelDir,
    Payment,
    Quiet,
    RfmFile,
    TimeUnitOption,
    choice,
    choice_metavar,
    html_path,
    parse_date,
    table_path,
)
from clvmodels.cli.options import encoding as check_encoding
from clvmodels.cli.options import time_unit as parse_time_unit
from clvmodels.cli.steps import (
    FitSettings,
    SummarizeSettings,
    check_holdout_end,
    check_values,
    fit_models,
    load_models,
    load_rfm,
    print_equity,
    print_parameters,
    print_rfm,
    read_transactions,
    save_models,
    score_customers,
    summarize_file,
    transaction_columns,
    write_report,
    write_scores,
)
from clvmodels.cli.time_varying import (
    CovariateCustomerCol,
    CovariateDateCol,
    FitTransactions,
    TimeVaryingFile,
    TimeVaryingSettings,
    fitted_periods,
)
from clvmodels.files import manifest as model_files
from clvmodels.files import tables
from clvmodels.scoring import ValueSettings


@command
def summarize(
    transactions: Annotated[Path, typer.Argument(help="Transaction log, .csv(.gz) or .parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", callback=table_path,
                                         help="RFM table to write (.csv or .parquet).")],
    customer_col: Annotated[str, typer.Option(help="Customer id column.")] = "customer_id",
    date_col: Annotated[str, typer.Option(help="Purchase date column.")] = "date",
    amount_col: Annotated[str, typer.Option(help="Spend column.")] = "amount",
    no_amount: Annotated[bool, typer.Option("--no-amount",
                                            help="No spend column: counts only.")] = False,
    date_format: Annotated[str | None, typer.Option(
        help="strftime layout of the dates, e.g. %Y%m%d or %d/%m/%Y (default: ISO and what "
        "pandas reads; needed when the day/month order is ambiguous).")
    ] = None,
    observation_end: Annotated[str | None, typer.Option(
        help="Last day of the observation (default: the last purchase); later purchases are "
        "left out with a note.")] = None,
    time_unit: TimeUnitOption = "W",
    engine: Annotated[str, typer.Option(
        callback=choice(*ENGINES), metavar=choice_metavar(*ENGINES),
        help="pandas (in memory) or duckdb (reads the file out of core; clvmodels[fast]).")
    ] = "pandas",
    encoding: Annotated[str, typer.Option(
        callback=check_encoding,
        help="Text encoding of a CSV log, e.g. latin-1 or cp1252 (pandas engine).")
    ] = "utf-8",
    timezone: Annotated[str | None, typer.Option(
        help="Time zone whose calendar days bucket dates that carry a zone or UTC offset, "
        "e.g. Europe/Berlin (needed when their offsets differ, as across a daylight-saving "
        "change).")] = None,
    period: Annotated[str | None, typer.Option(
        help="Discrete time, for --model bgbb: count transaction opportunities in calendar "
        "periods of this length (Y, M, W or D): frequency, recency and periods.")] = None,
    quiet: Quiet = False,
) -> None:
    """Summarize a transaction log into one RFM row per customer."""
    reporter = Reporter(quiet)
    settings = SummarizeSettings(
        customer_col=customer_col, date_col=date_col,
        amount_col=None if no_amount else amount_col, date_format=date_format,
        observation_end=observation_end, time_unit=time_unit, engine=engine,
        encoding=encoding, timezone=timezone, period=period,
    )
    settings.check(lambda name: f"--{name}")
    parse_date(observation_end, "--observation-end", date_format)
    rfm, _ = summarize_file(transactions, settings, reporter)
    tables.write_table(rfm, output, metadata=rfm.attrs["metadata"])
    print_rfm(rfm, reporter, output)


@command
def fit(
    rfm: RfmFile,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    model: Annotated[str, typer.Option(
        "--model", "-m", callback=choice(*model_files.FIT_MODELS),
        metavar=choice_metavar(*model_files.FIT_MODELS),
        help="Purchase-count model: bgnbd (BG/NBD), mbgnbd (MBG/NBD), pnbd (Pareto/NBD), "
        "ggomnbd (GGompertz/NBD) or bgbb (BG/BB, discrete time: an RFM file from summarize "
        "--period); or a contractual model of a subscription log or contract table: sbg or "
        "bdw."
    )] = "bgnbd",
    spend: Annotated[str, typer.Option(
        callback=choice(*model_files.SPEND_CHOICES),
        metavar=choice_metavar(*model_files.SPEND_CHOICES),
        help="Spend model; none: purchase counts only (an RFM file without monetary_value; "
        "predict then writes no value columns).")] = "gamma-gamma",
    bayesian: Annotated[bool, typer.Option(
        "--bayesian", help="Fit the Bayesian variants (needs clvmodels[bayes]).")] = False,
    penalizer: Annotated[float, typer.Option(help="L2 penalty (maximum likelihood).")] = 0.0,
    method: Annotated[str, typer.Option(
        callback=choice(*BAYES_METHODS), metavar=choice_metavar(*BAYES_METHODS),
        help="Bayesian: nuts (sampling) or map.")] = "nuts",
    draws: Annotated[int, typer.Option(min=1, help="Bayesian: draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(min=0, help="Bayesian: tuning steps per chain.")] = 1000,
    chains: Annotated[int, typer.Option(min=1, help="Bayesian: chains.")] = 4,
    seed: Annotated[int | None, typer.Option(help="Bayesian: random seed.")] = None,
    time_unit: Annotated[str | None, typer.Option(
        "--time-unit", help="Time unit of an RFM file not written by summarize.")] = None,
    customer_col: Annotated[str, typer.Option(
        help="sbg/bdw: customer id column of the subscription log.")] = "customer_id",
    start_col: Annotated[str | None, typer.Option(
        help="sbg/bdw: contract start column (the input is then a subscription log).")] = None,
    end_col: Annotated[str | None, typer.Option(
        help="sbg/bdw: contract end column (empty for active contracts).")] = None,
    observation_end: Annotated[str | None, typer.Option(
        help="sbg/bdw: the date the subscription log was taken.")] = None,
    period: Annotated[str, typer.Option(
        help="sbg/bdw: renewal period, M (months), Y, W or D.")] = "M",
    date_format: Annotated[str | None, typer.Option(
        help="sbg/bdw: strftime layout of the log's dates.")] = None,
    covariates: CovariatesFile = None,
    purchase_covariates: PurchaseCovariates = None,
    dropout_covariates: DropoutCovariates = None,
    spend_covariates: SpendCovariates = None,
    time_varying_covariates: TimeVaryingFile = None,
    covariate_customer_col: CovariateCustomerCol = None,
    covariate_date_col: CovariateDateCol = "date",
    transactions: FitTransactions = None,
    quiet: Quiet = False,
) -> None:
    """Fit a purchase-count model and a spend model (or a contractual model); write them to a
    model directory."""
    reporter = Reporter(quiet)
    settings = FitSettings(
        model=model, spend=spend, bayesian=bayesian, penalizer=penalizer,
        method=method, draws=draws, tune=tune, chains=chains, seed=seed,
    )
    settings.check(lambda name: f"--{name}", model_files.FIT_MODELS)
    subscriptions = contract.SubscriptionSettings(customer_col, start_col, end_col,
                                                  observation_end, period, date_format)
    subscriptions.check(model)
    named = CovariateSettings(covariates, *(
        parse_names(value) for value in (purchase_covariates, dropout_covariates,
                                         spend_covariates)))
    varying = TimeVaryingSettings(time_varying_covariates, covariate_customer_col,
                                  covariate_date_col, transactions)
    varying.check(model, bayesian, named)
    if model in contract.CONTRACT_MODELS:
        refuse_contract_covariates(named.path or (named.columns() or None), model)
        contract.fit_contract(rfm, output, settings, subscriptions, reporter)
        return
    named = fit_covariates(named, model, spend, bayesian)
    table = load_rfm(rfm, time_unit=parse_time_unit(time_unit) if time_unit else None,
                     spend=spend != model_files.NO_SPEND_MODEL, model=model)
    table = with_covariates(table, named.path, varying.static_columns(named), "--covariates",
                            str(rfm))
    models = fit_models(table, settings, str(rfm), reporter, named,
                        varying.fit_options(table, reporter))
    save_models(models, output, reporter)
    print_parameters(models, reporter)


@command
def predict(
    model: ModelDir,
    rfm: RfmFile,
    output: Annotated[Path, typer.Option("--output", "-o", callback=table_path,
                                         help="Scores to write (.csv or .parquet).")],
    horizon: Horizon,
    discount_rate: DiscountRate = 0.0,
    margin: Margin = 1.0,
    level: Level = 0.9,
    payment: Payment = 1.0,
    covariates: CovariatesFile = None,
    time_varying_covariates: TimeVaryingFile = None,
    quiet: Quiet = False,
) -> None:
    """Score every customer: P(alive), expected purchases and spend, CLV, CLV decile (a
    contractual model: residual value)."""
    reporter = Reporter(quiet)
    settings = ValueSettings(horizon, discount_rate, margin, level)
    check_values(settings)
    models = load_models(model, reporter)
    if contract.is_contract(models):
        refuse_contract_covariates(covariates, models.transaction_model)
        contract.predict_contract(models, rfm, output, settings, payment, reporter)
        return
    periods = fitted_periods(models, time_varying_covariates)
    table = attach_for_models(load_rfm(rfm, models), models, covariates, str(rfm))
    scores = score_customers(models, table, settings, reporter, periods)
    with reporter.step(f"Writing {output}"):
        write_scores(scores, output, models, str(rfm))
    print_equity(scores, reporter)


@command
def report(
    model: ModelDir,
    rfm: RfmFile,
    output: Annotated[Path, typer.Option("--output", "-o", callback=html_path,
                                         help="HTML report to write.")],
    horizon: Horizon,
    discount_rate: DiscountRate = 0.0,
    margin: Margin = 1.0,
    level: Level = 0.9,
    transactions: Annotated[Path | None, typer.Option(
        help="The transaction log (read with the columns summarize recorded): adds the "
        "tracking plot.")] = None,
    holdout: Annotated[str | None, typer.Option(
        help="End date of a holdout period after the RFM's observation end: compares the "
        "predictions with the purchases in --transactions up to it.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Customers in the top-customers table.")] = 20,
    payment: Payment = 1.0,
    covariates: CovariatesFile = None,
    time_varying_covariates: TimeVaryingFile = None,
    quiet: Quiet = False,
) -> None:
    """Write a self-contained HTML report: customer equity, segments, fit diagnostics."""
    reporter = Reporter(quiet)
    settings = ValueSettings(horizon, discount_rate, margin, level)
    check_values(settings)
    if holdout is not None and transactions is None:
        raise typer.BadParameter("needs --transactions (the log holding the holdout purchases)",
                                 param_hint="--holdout")
    models = load_models(model, reporter)
    if contract.is_contract(models):
        refuse_contract_covariates(covariates, models.transaction_model)
        contract.report_contract(models, rfm, output, settings, payment, reporter)
        return
    periods = fitted_periods(models, time_varying_covariates)
    table = attach_for_models(load_rfm(rfm, models), models, covariates, str(rfm))
    log = None
    holdout_end = None
    if transactions is not None:
        summary = SummarizeSettings(**transaction_columns(table))
        holdout_end = parse_date(holdout, "--holdout", summary.date_format)
        check_holdout_end(holdout_end, table, "--holdout")
        with reporter.step(f"Reading {transactions}"):
            log = read_transactions(transactions, summary)
    scores = score_customers(models, table, settings, reporter, periods)
    write_report(models, table, scores, output, reporter, transactions=log,
                 holdout_end=holdout_end, top=top, periods=periods)
    reporter.line(f"Report written to {output}")


__all__ = ["fit", "predict", "report", "summarize"]

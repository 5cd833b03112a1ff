"""The customer-equity HTML report: sections, embedded images, values, and a real browser.

One report of the CDNOW sample (calibration to 1997-09-30, holdout to 1998-06-30, with the
tracking plot) is built per session through the command line in-process; its numbers are
checked against the Python API. Headless Chromium (Debian's ``chromium``) renders it when
installed: the test is skipped, saying so, when it is not.
"""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import clvmodels
from clvmodels import plotting
from clvmodels.__main__ import main
from clvmodels.files import tables
from clvmodels.report import SECTIONS

CALIBRATION_END, HOLDOUT_END = "1997-09-30", "1998-06-30"
WEEKLY_RATE = 1.10 ** (7 / 365.25) - 1
IMAGE = re.compile(r'<figure id="figure-([a-z-]+)"><img src="data:image/png;base64,([^"]+)"')
FIGURES = ("equity-concentration", "clv-distribution", "period-transactions", "tracking",
           "calibration-vs-holdout")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _pipeline(directory, log, *, report_args=()):
    """summarize, fit and report in-process; returns the report's text."""
    log.to_csv(directory / "transactions.csv", index=False)
    steps = [
        ["summarize", directory / "transactions.csv", "-o", directory / "rfm.csv",
         "--observation-end", CALIBRATION_END],
        ["fit", directory / "rfm.csv", "-o", directory / "model"],
        ["report", directory / "model", directory / "rfm.csv", "--horizon", 52,
         "--discount-rate", 0.1, "-o", directory / "report.html", *report_args],
    ]
    for step in steps:
        assert main([*map(str, step), "--quiet"]) == 0, step
    return (directory / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def transactions():
    return clvmodels.load_cdnow_transactions()[["customer_id", "date", "amount"]]


@pytest.fixture(scope="session")
def report(tmp_path_factory, transactions):
    directory = tmp_path_factory.mktemp("report")
    text = _pipeline(directory, transactions, report_args=[
        "--transactions", directory / "transactions.csv", "--holdout", HOLDOUT_END])
    return directory / "report.html", text


@pytest.fixture(scope="session")
def api(report, transactions):
    """The same numbers from the Python API, on the RFM file the report was made from (the
    command line's own files are checked against the API's pipeline in test_cli.py)."""
    rfm = tables.read_rfm(report[0].with_name("rfm.csv"))
    rfm.index = rfm.index.astype(int)
    bgnbd, spend = clvmodels.BetaGeoModel().fit(rfm), clvmodels.GammaGammaModel().fit(rfm)
    equity = clvmodels.customer_equity(bgnbd, spend, rfm, horizon=52, discount_rate=WEEKLY_RATE)
    holdout = clvmodels.calibration_holdout(transactions, calibration_end=CALIBRATION_END,
                                            time_unit="W")
    return rfm, bgnbd, equity, holdout


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # IHDR width, height


def test_report_has_every_section_in_order(report):
    _, text = report
    positions = [text.find(f'<section id="{section}">') for section in SECTIONS]
    assert all(p > 0 for p in positions), dict(zip(SECTIONS, positions, strict=True))
    assert positions == sorted(positions)
    assert '<section id="notes">' not in text  # nothing went wrong on the way


def test_report_embeds_every_plot_as_png(report):
    _, text = report
    images = dict(IMAGE.findall(text))
    assert sorted(images) == sorted(FIGURES)
    for name, data in images.items():
        width, height = _png_size(base64.b64decode(data, validate=True))
        assert width >= 600 and height >= 400, (name, width, height)


def test_report_is_self_contained(report):
    _, text = report
    assert not re.search(r"https?://", text)
    assert not re.search(r"<(script|link|iframe|object|embed)\b", text, re.IGNORECASE)
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text)
    assert sources and all(source.startswith("data:image/png;base64,") for source in sources)


def test_headline_and_tables_match_the_api(report, api):
    _, text = report
    rfm, bgnbd, equity, holdout = api
    headline = text[text.index('<section id="headline">'):text.index('<section id="segments">')]
    assert f"${equity.total:,.0f}" in headline
    assert f"${equity.total / len(rfm):,.2f}" in headline
    assert f"{len(rfm):,}" in headline
    segments = text[text.index('<section id="segments">'):text.index('<section id="top-')]
    for row in equity.segments.itertuples():
        assert f"${row.equity:,.0f}" in segments
    top = text[text.index('<section id="top-customers">'):text.index('<section id="diagn')]
    best = equity.clv["clv"].sort_values(ascending=False)
    rows = re.findall(r'<tr><td class="text">([^<]+)</td><td>([^<]+)</td>', top)
    assert [int(c) for c, _ in rows] == list(best.index[:20])
    assert rows[0][1] == f"${best.iloc[0]:,.2f}"
    parameters = text[text.index('<section id="parameters">'):text.index('<section id="sett')]
    for name, value in bgnbd.params_.items():
        assert f'<td class="text">{name}</td><td>{value:,.4g}</td>' in parameters


def test_holdout_metrics_match_the_data(report, api):
    _, text = report
    _, bgnbd, _, holdout = api
    actual = holdout["frequency_holdout"].sum()
    predicted = bgnbd.expected_purchases(holdout, holdout["duration_holdout"].iloc[0]).sum()
    assert "Holdout: 1997-09-30 to 1998-06-30 (39 weeks)" in text
    assert f"<td>{actual:,.0f}</td>" in text and f"<td>{predicted:,.1f}</td>" in text
    assert actual == 1882  # Fader, Hardie & Lee (2005): 1,882 holdout purchases (a count)


def test_holdout_metrics_show_the_baselines_beside_the_model(report, api):
    _, text = report
    _, _, _, holdout = api
    start = text.index("<h3>Holdout:")
    section = text[start:text.index("</table>", start)]
    header = re.findall(r"<th[^>]*>([^<]*)</th>", section)
    assert header == ["holdout metric", "BG/NBD", "baseline: calibration rate", "baseline: zero"]
    body = section[section.index("<tbody>"):]
    rows = {cells[0]: cells[1:] for cells in (
        re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body))}
    actual = holdout["frequency_holdout"]
    rate = holdout["frequency"] / holdout["T"] * 39.0  # repeat purchases / T, times 39 weeks
    assert rows["predicted repeat purchases"][1:] == [f"{rate.sum():,.1f}", "0.0"]
    assert rows["mean absolute error per customer"][1:] == [
        f"{(rate - actual).abs().mean():.3f}", f"{actual.mean():.3f}"]
    assert rows["bias (predicted / actual - 1)"][2] == "-100.0%"
    assert rows["correlation, actual vs predicted"][2] == "n/a"  # a constant has none
    assert rows["interval coverage"][1:] == ["n/a", "n/a"]  # point forecasts
    assert "correlation, actual vs predicted (baseline: zero): the forecast is the same" in section


def test_settings_record_the_run(report):
    _, text = report
    settings = text[text.index('<section id="settings">'):]
    for expected in ("1997-01-01 to 1997-09-30", "next 52 weeks", "10.00% a year",
                     "BetaGeoModel", "GammaGammaModel", f">{clvmodels.__version__}<",
                     "1997-09-30 to 1998-06-30"):
        assert expected in settings, expected


def _section_of(text, section):
    start = text.index(f'<section id="{section}">')
    return text[start:text.index("</section>", start)]


def test_headline_says_whether_equity_is_revenue_or_profit(report):
    _, text = report
    headline = _section_of(text, "headline")
    assert "customer equity, next 52 weeks (revenue: margin 100%)" in headline
    assert "Customer equity as revenue, not profit (margin 100%" in headline


def test_tables_read_as_text_not_code(report):
    """Readable headers and model names; settings in words, not a Python repr; units."""
    _, text = report
    parameters = _section_of(text, "parameters")
    for code in ("std_error", "lower_95%", "upper_95%", "BetaGeoModel", "GammaGammaModel"):
        assert code not in parameters, code
    assert "<h3>BG/NBD: purchase counts</h3>" in parameters
    assert "<h3>Gamma-Gamma: spend per purchase</h3>" in parameters
    assert ('<th class="text">parameter</th><th>estimate</th><th>standard error</th>'
            "<th>lower 95% bound</th><th>upper 95% bound</th>") in parameters
    settings = _section_of(text, "settings")
    assert "model=bgnbd" not in settings and "bayesian=False" not in settings
    assert '<td class="text">estimation</td><td class="text">maximum likelihood, no penalty' in (
        settings)
    assert "BG/NBD (BetaGeoModel)" in settings and "Gamma-Gamma (GammaGammaModel)" in settings
    assert re.search(r"<td class=\"text\">models fitted</td><td class=\"text\">"
                     r"\d{4}-\d\d-\d\d \d\d:\d\d UTC with clvmodels", settings)
    top = _section_of(text, "top-customers")
    assert "<th>recency (weeks)</th><th>age T (weeks)</th>" in top


def test_settings_count_the_transactions_used_and_left_out(report, transactions):
    _, text = report
    after = int((transactions["date"] > CALIBRATION_END).sum())
    used = len(transactions) - after
    assert (used, after) == (4960, 1959)
    assert (f'<td class="text">transactions summarised</td><td class="text">{used:,} '
            f"transactions ({after:,} after the observation end {CALIBRATION_END} left out)"
            ) in _section_of(text, "settings")


def _drawn(draw):
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")  # as the report draws it
    FigureCanvasAgg(figure)
    ax = draw(figure.add_subplot())
    figure.canvas.draw()
    return figure, ax


def test_concentration_labels_cross_no_line(api):
    """No label of the concentration plot lies on a line of it (a guide line ran through
    the "top 10%" label): every point of every line, densely sampled in display coordinates,
    is outside every text's box."""
    _, _, equity, _ = api
    figure, ax = _drawn(lambda ax: plotting.plot_equity_concentration(equity, ax=ax))
    renderer = figure.canvas.get_renderer()
    texts = [*ax.texts, *ax.get_legend().get_texts()]
    assert any(t.get_text().startswith("top 10% of customers hold") for t in texts)
    boxes = [t.get_window_extent(renderer) for t in texts if t.get_text()]
    lines = [line for line in ax.get_lines() if isinstance(line, Line2D)]
    assert len(lines) == 4  # the curve, the diagonal and the two guides
    for line in lines:
        points = ax.transData.transform(line.get_xydata())
        for start, end in zip(points[:-1], points[1:], strict=True):
            for share in np.linspace(0, 1, 200):
                x, y = start + share * (end - start)
                for box in boxes:
                    assert not (box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1), (
                        line.get_label(), box)


def test_clv_histogram_ticks_are_amounts(api):
    _, _, equity, _ = api
    _, ax = _drawn(lambda ax: plotting.plot_clv_distribution(equity, currency="$", ax=ax))
    assert ax.get_xscale() == "log"
    low, high = ax.get_xlim()
    shown = [(label.get_position()[0], label.get_text()) for label in ax.get_xticklabels()
             if low <= label.get_position()[0] <= high]
    assert shown == [(10.0, "$10"), (100.0, "$100"), (1000.0, "$1,000")]
    assert all(not label.get_text() for label in ax.get_xticklabels(minor=True))
    # A linear axis (values within two decades) gets the sign too.
    _, ax = _drawn(lambda ax: plotting.plot_clv_distribution(
        pd.Series([10.0, 12.0, 20.0]), currency="$", ax=ax))
    labels = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
    assert labels and all(label.startswith("$") for label in labels), labels


def test_report_without_transactions_says_what_is_missing(tmp_path, transactions):
    text = _pipeline(tmp_path, transactions)
    images = dict(IMAGE.findall(text))
    assert sorted(images) == ["clv-distribution", "equity-concentration", "period-transactions"]
    assert "No tracking plot: pass --transactions" in text


def test_customer_ids_are_escaped(tmp_path, transactions):
    log = transactions.copy()
    log["customer_id"] = "<b>" + log["customer_id"].astype(str) + "</b>&"
    text = _pipeline(tmp_path, log)
    top = text[text.index('<section id="top-customers">'):text.index('<section id="diagn')]
    assert "<b>" not in top and "&lt;b&gt;" in top and "&lt;/b&gt;&amp;" in top


# ----------------------------------------------------------------------------- the browser
# Added to a copy of the report: lists every image with its decoded size, so the DOM Chromium
# dumps says whether each embedded PNG really rendered.
_PROBE = """<script>
document.body.insertAdjacentHTML("beforeend", "<pre id='probe'>" +
  Array.from(document.images).map(i => i.closest("figure").id + " " + i.complete + " " +
    i.naturalWidth + "x" + i.naturalHeight).join(";") + "</pre>");
</script>"""


def _chromium(*args, timeout=120):
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium; "
                    ".ci/run installs it when apt-get is available)")
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_chromium_renders_every_image(report, tmp_path):
    _, text = report
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    result = _chromium("--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r"<pre id=\"probe\">([^<]*)</pre>", result.stdout)
    assert found, result.stdout[-2000:]
    rendered = dict(entry.split(" ", 1) for entry in found.group(1).split(";"))
    assert sorted(rendered) == sorted(f"figure-{name}" for name in FIGURES)
    for name, state in rendered.items():
        complete, size = state.split()
        width, height = map(int, size.split("x"))
        assert complete == "true" and width >= 600 and height >= 400, (name, state)


def test_chromium_screenshot(report, tmp_path):
    """A full-page screenshot (kept beside the report for a person to look at)."""
    path, _ = report
    screenshot = path.with_name("report.png")
    result = _chromium("--window-size=1280,6000", f"--screenshot={screenshot}", path.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    width, height = _png_size(screenshot.read_bytes())
    assert (width, height) == (1280, 6000)
    # A blank page compresses to a few kilobytes; text and five plots do not.
    assert screenshot.stat().st_size > 200_000


def test_tracking_plot_of_the_calibration_period_alone(tmp_path, transactions):
    """A log that ends at the observation end (no holdout yet) still gets its tracking plot."""
    log = transactions[transactions["date"] <= CALIBRATION_END]
    text = _pipeline(tmp_path, log, report_args=["--transactions", tmp_path / "transactions.csv"])
    assert 'id="figure-tracking"' in text and "Holdout:" not in text


def test_model_names_come_from_the_registry(report, tmp_path):
    """Every model the CLI fits is named as its family's title, MBG/NBD too (it was shown as
    its command-line name, ``mbgnbd``)."""
    rfm = report[0].with_name("rfm.csv")
    for step in (["fit", rfm, "--model", "mbgnbd", "-o", tmp_path / "model"],
                 ["report", tmp_path / "model", rfm, "--horizon", 52,
                  "-o", tmp_path / "report.html"]):
        assert main([*map(str, step), "--quiet"]) == 0, step
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "MBG/NBD and Gamma-Gamma models" in text
    assert "<h3>MBG/NBD: purchase counts</h3>" in text
    assert "MBG/NBD (ModifiedBetaGeoModel)" in text
    assert "mbgnbd" not in text

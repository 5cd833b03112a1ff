"""Model directories are untrusted input (issue 13, items 9-11): through the console script,
every malformed manifest or model file ends in exit code 4 and one line naming what is wrong,
and nothing outside the directory is read.

Each case is a copy of one good model directory with one thing changed (the model files'
SHA-256 in the manifest recomputed where a model file is changed, as an attacker would). All
cases run at once, each as its own ``python -m clvmodels predict`` process.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import clvmodels
from clvmodels.__main__ import main

MODULE = [sys.executable, "-m", "clvmodels"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit_manifest(directory: Path, change: Callable[[dict], None]) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _edit_model(directory: Path, change: Callable[[dict], None]) -> None:
    """Change the purchase-count model's file and give the manifest its new hash."""
    path = directory / "transaction_model.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    _edit_manifest(directory, lambda m: m["transaction_model"].update(sha256=_sha256(path)))


def _point_elsewhere(directory: Path, target: str) -> None:
    """The manifest names a file outside the directory (with that file's hash)."""
    source = Path(target) if Path(target).is_absolute() else directory / target
    _edit_manifest(directory, lambda m: m["transaction_model"].update(
        file=target, sha256=_sha256(source)))


def _deep_manifest(directory: Path) -> None:
    (directory / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)


def _linked_model(directory: Path) -> None:
    outside = directory.parent / f"{directory.name}_outside.json"
    (directory / "transaction_model.json").rename(outside)
    (directory / "transaction_model.json").symlink_to(outside)


def _remove(mapping: dict, key: str) -> None:
    del mapping[key]


# name -> (how the copy is changed, fragment of the one-line error)
CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "file outside the directory": (
        lambda d: (shutil.copy(d / "transaction_model.json", d.parent / f"{d.name}.json"),
                   _point_elsewhere(d, f"../{d.name}.json")),
        "must be the name of a .json file in the model directory"),
    "absolute file": (lambda d: _point_elsewhere(d, "/etc/passwd"),
                      "file '/etc/passwd' must be the name of a .json file"),
    "symbolic link": (_linked_model, "transaction_model.json is a symbolic link"),
    "function as class": (
        lambda d: _edit_manifest(d, lambda m: m["transaction_model"].update(
            {"class": "rfm_summary"})),
        "class 'rfm_summary' is not the maximum-likelihood bgnbd model (BetaGeoModel)"),
    "module attribute as class": (
        lambda d: _edit_manifest(d, lambda m: m["transaction_model"].update(
            {"class": "__builtins__"})),
        "class '__builtins__' is not the maximum-likelihood bgnbd model (BetaGeoModel)"),
    "spend class as purchase class": (
        lambda d: _edit_manifest(d, lambda m: m["transaction_model"].update(
            {"class": "GammaGammaModel"})),
        "class 'GammaGammaModel' is not the maximum-likelihood bgnbd model"),
    "unknown model name": (
        lambda d: _edit_manifest(d, lambda m: m["transaction_model"].update(name="rfm")),
        "name 'rfm' is not a purchase model"),
    "deep JSON": (_deep_manifest, "manifest.json: not a clvmodels model manifest (invalid "
                                  "JSON: nested too deeply)"),
    "string format_version": (
        lambda d: _edit_manifest(d, lambda m: m.update(format_version="1")),
        "format_version must be a whole number >= 1, got '1'"),
    "missing spend_model": (lambda d: _edit_manifest(d, lambda m: _remove(m, "spend_model")),
                            "missing field 'spend_model'"),
    "unknown manifest key": (lambda d: _edit_manifest(d, lambda m: m.update(extra=1)),
                             "unknown field(s) ['extra']"),
    "unknown settings key": (
        lambda d: _edit_model(d, lambda doc: doc["settings"].update(l1_ratio=0.5)),
        "unknown settings ['l1_ratio']"),
    "bayesian yes": (lambda d: _edit_manifest(d, lambda m: m.update(bayesian="yes")),
                     "field 'bayesian' must be bool, got 'yes'"),
    "bad time unit": (lambda d: _edit_manifest(d, lambda m: m.update(time_unit="fortnight")),
                      "field 'time_unit': unknown time unit 'fortnight'"),
    "bad creation time": (lambda d: _edit_manifest(d, lambda m: m.update(created="soon")),
                          "field 'created' must be an ISO timestamp"),
    "fit settings of another model": (
        lambda d: _edit_manifest(d, lambda m: m["fit"].update(model="pnbd")),
        "says the models were fitted with model 'pnbd', but the manifest lists 'bgnbd'"),
    "subscription setting not text": (
        lambda d: _edit_manifest(d, lambda m: m["data"].update(
            subscriptions={"customer_col": 5})),
        "data.subscriptions: field 'customer_col' must be str, got 5"),
    "unknown subscription setting": (
        lambda d: _edit_manifest(d, lambda m: m["data"].update(
            subscriptions={"__class__": "x"})),
        "data.subscriptions: unknown field(s) ['__class__']"),
    "text penalizer": (lambda d: _edit_manifest(d, lambda m: m["fit"].update(penalizer="0")),
                       "field 'penalizer' must be int or float"),
    "bad hash text": (
        lambda d: _edit_manifest(d, lambda m: m["transaction_model"].update(sha256=None)),
        "field 'sha256' must be str, got None"),
    "negative parameter": (lambda d: _edit_model(d, lambda doc: doc["params"].update(r=-1)),
                           "parameter 'r' is -1.0; the BG/NBD model needs a finite number > 0"),
    "null parameter": (lambda d: _edit_model(d, lambda doc: doc["params"].update(r=None)),
                       "parameter 'r' is None; expected a number"),
    "text parameter": (lambda d: _edit_model(d, lambda doc: doc["params"].update(r="0.24")),
                       "parameter 'r' is '0.24'; expected a number"),
}


@pytest.fixture(scope="module")
def good(cli_model):
    return cli_model


# The cases run as processes of the real entry point, all at once; the others call
# main() in-process (the same code without the interpreter start-up).
SUBPROCESS_CASES = ("file outside the directory", "absolute file", "function as class",
                    "deep JSON", "string format_version", "missing spend_model",
                    "unknown settings key", "bayesian yes", "negative parameter")


def _predict(good: Path, i: int) -> list[str]:
    return ["predict", str(good / f"case{i}"), str(good / "rfm.csv"), "--horizon", "52",
            "-o", str(good / f"scores{i}.csv")]


@pytest.fixture(scope="module")
def predictions(good):
    """The changed copies, and the subprocess cases' (exit code, stderr), run at once."""
    processes = {}
    for i, (name, (change, _)) in enumerate(CASES.items()):
        shutil.copytree(good / "model", good / f"case{i}")
        change(good / f"case{i}")
        if name in SUBPROCESS_CASES:
            processes[name] = subprocess.Popen([*MODULE, *_predict(good, i)],
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True)
    results = {}
    for name, process in processes.items():
        try:
            _, stderr = process.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        results[name] = (process.returncode, stderr)
    return results


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_model_directory_is_exit_4_with_one_line(predictions, good, case, capsys):
    if case in predictions:
        code, stderr = predictions[case]
    else:
        code = main(_predict(good, list(CASES).index(case)))
        stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert code == 4, stderr
    assert len(lines) == 1 and lines[0].startswith("clvmodels: error: "), stderr
    assert CASES[case][1] in lines[0], lines[0]
    assert not (good / f"scores{list(CASES).index(case)}.csv").exists()


def test_the_good_directory_still_predicts(good, tmp_path):
    """The cases fail for what was changed, not for the copy itself."""
    copy = tmp_path / "model"
    shutil.copytree(good / "model", copy)
    assert main(["predict", str(copy), str(good / "rfm.csv"), "--horizon", "52", "-o",
                 str(tmp_path / "s.csv"), "-q"]) == 0


def test_bayesian_draws_are_checked_against_the_family(tmp_path):
    """A Bayesian model file is checked draw by draw with the family's own constraints (as a
    maximum-likelihood file's estimates are), and draws that are not numbers are refused."""
    pytest.importorskip("pymc", reason="the Bayesian extra is not installed")
    from clvmodels import BayesianGammaGammaModel, ValidationError

    model = BayesianGammaGammaModel().fit(clvmodels.load_cdnow_summary(), method="map",
                                          draws=20, chains=1, random_seed=1)
    model.idata.posterior["q"][0, 7] = -2.0
    model.save(tmp_path / "negative.nc")
    with pytest.raises(ValidationError, match=r"draw 7: parameter 'q' is -2.0; the "
                                              r"Gamma-Gamma model needs a finite number > 0"):
        BayesianGammaGammaModel.load(tmp_path / "negative.nc")
    text = model.idata.copy()
    text.posterior["q"] = (("chain", "draw"), np.full(text.posterior["q"].shape, "many"))
    text.to_netcdf(str(tmp_path / "text.nc"))
    with pytest.raises(ValidationError, match="the draws of 'q' are not numbers"):
        BayesianGammaGammaModel.load(tmp_path / "text.nc")

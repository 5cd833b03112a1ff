"""The manifest of a model directory (``manifest.json``): what it records, and its schema.

A manifest is untrusted input: a directory may come from elsewhere, or be edited. Before
anything it names is opened, :func:`check_manifest` checks it whole (one line naming the
field for whatever is wrong):

* the header (:func:`clvmodels.estimation.modelfile.check_header`: format, a whole-number
  format version this clvmodels reads);
* exactly the known fields, each of its type; the time unit one of
  :class:`~clvmodels.timeunit.TimeUnit`; ``created`` a timestamp;
* each model: a registered model name of its role, the class the registry gives that name
  for the directory's kind (maximum likelihood or Bayesian; classes are never looked up by
  name on the package), a bare file name of that kind (``.json`` / ``.nc``: no folder, no
  ``..``, no absolute path, so nothing outside the directory is read) and a SHA-256;
* the fit settings: known keys with valid values, agreeing with the models listed;
* a contractual fit's subscription-log settings (``data.subscriptions``): known names, text.

The model files themselves are checked by their classes' ``load`` (header, fields, every
parameter against the family's constraints).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import pandas as pd

from clvmodels.estimation.base import package_version
from clvmodels.estimation.modelfile import check_header, require
from clvmodels.models import CONTRACT_MODELS, MODELS, PURCHASE_MODELS, SPEND_MODELS
from clvmodels.timeunit import TimeUnit
from clvmodels.validation import ValidationError

MODEL_DIR_FORMAT = "clvmodels.model-directory"
#: The newest model-directory format this version reads. Format 2 allows a directory without a
#: spend model (``--spend none``); directories with one are still written as format 1, which
#: every earlier version reads.
MODEL_DIR_VERSION = 2
MANIFEST = "manifest.json"
#: Transaction-model and spend-model names of the command line (see clvmodels.models.MODELS).
TRANSACTION_MODELS = PURCHASE_MODELS
#: The ``--model`` choices of fit: the purchase-count and the contractual models (these fit
#: alone, as a directory's transaction model without a spend model).
FIT_MODELS = (*TRANSACTION_MODELS, *CONTRACT_MODELS)
#: The ``--spend`` value of a counts-only fit (no spend model, no value columns).
NO_SPEND_MODEL = "none"
SPEND_CHOICES = (*SPEND_MODELS, NO_SPEND_MODEL)
MODEL_ROLES = ("transaction_model", "spend_model")
#: The save format of each kind of model, by ``bayesian``.
MODEL_SUFFIXES = {False: ".json", True: ".nc"}

#: The subscription-log settings a contractual model's ``fit`` records in ``data.subscriptions``
#: (the fields of ``clvmodels.cli.contract.SubscriptionSettings``).
SUBSCRIPTION_FIELDS = ("customer_col", "start_col", "end_col", "observation_end", "period",
                       "date_format")
_FIELDS = ("format", "format_version", "package_version", "created", "bayesian", "time_unit",
           "transaction_model", "spend_model", "fit", "data")
_ENTRY_FIELDS = ("name", "class", "file", "sha256")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_METHODS = ("nuts", "map")


def new_manifest(
    *, model: str, spend: str, bayesian: bool, time_unit: str, fit: dict[str, Any],
    data: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of a model directory before its files are written (``spend`` may be
    :data:`NO_SPEND_MODEL`: then ``spend_model`` is null)."""
    counts_only = spend == NO_SPEND_MODEL
    return {
        "format": MODEL_DIR_FORMAT,
        # Format 1 readers expect a spend model: only a directory without one needs format 2.
        "format_version": 2 if counts_only else 1,
        "package_version": package_version(),
        "created": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        "bayesian": bayesian,
        "time_unit": time_unit,
        "transaction_model": {"name": model,
                              "class": MODELS[model].estimator(bayesian).__name__},
        "spend_model": None if counts_only else {
            "name": spend, "class": MODELS[spend].estimator(bayesian).__name__},
        "fit": fit,
        "data": data,
    }


def check_manifest(manifest: Any, path: Any) -> None:
    """Refuse a manifest that does not follow the schema (see the module docstring).

    Raises
    ------
    ValidationError
        Naming ``path``, the field and what it should be.
    """
    check_header(manifest, path, format_name=MODEL_DIR_FORMAT, version=MODEL_DIR_VERSION,
                 model=None, package=package_version())
    _known_fields(manifest, _FIELDS, path)
    bayesian = require(manifest, "bayesian", bool, path)
    try:
        TimeUnit.parse(require(manifest, "time_unit", str, path))
    except ValueError as error:
        raise ValidationError(f"{path}: field 'time_unit': {error}") from None
    if "package_version" in manifest:
        require(manifest, "package_version", str, path)
    if "created" in manifest:
        created = require(manifest, "created", str, path)
        try:
            pd.Timestamp(created)
        except (ValueError, TypeError):
            raise ValidationError(f"{path}: field 'created' must be an ISO timestamp, got "
                                  f"{created!r}") from None
    names = {}
    for role in MODEL_ROLES:
        entry = require(manifest, role, dict, path, nullable=role == "spend_model")
        names[role] = None if entry is None else _check_entry(entry, role, bayesian,
                                                              f"{path}: {role}")
    _check_fit(require(manifest, "fit", dict, path), names, bayesian, path)
    data = require(manifest, "data", dict, path)
    if "subscriptions" in data:
        where = f"{path}: data"
        _check_subscriptions(require(data, "subscriptions", dict, where), where)


def _check_subscriptions(block: Mapping, where: str) -> None:
    """The subscription-log settings of a contractual fit: known names, each text (only the
    customer column is never null)."""
    where = f"{where}.subscriptions"
    _known_fields(block, SUBSCRIPTION_FIELDS, where)
    for key in block:
        require(block, key, str, where, nullable=key != "customer_col")


def _known_fields(document: Mapping, fields: tuple[str, ...], path: Any) -> None:
    unknown = sorted(map(str, set(document) - set(fields)))
    if unknown:
        raise ValidationError(f"{path}: unknown field(s) {unknown}; expected some of "
                              f"{list(fields)}")


def _check_entry(entry: Mapping, role: str, bayesian: bool, where: str) -> str:
    """A model's entry: its registered name (returned), class, bare file name and hash."""
    _known_fields(entry, _ENTRY_FIELDS, where)
    kind = "purchase" if role == "transaction_model" else "spend"
    allowed = FIT_MODELS if kind == "purchase" else SPEND_MODELS
    name = require(entry, "name", str, where)
    if name not in allowed:
        raise ValidationError(f"{where}: name {name!r} is not a {kind} model; expected one of "
                              f"{list(allowed)}")
    expected = MODELS[name].estimator(bayesian).__name__
    found = require(entry, "class", str, where)
    if found != expected:
        kind_text = "Bayesian" if bayesian else "maximum-likelihood"
        raise ValidationError(f"{where}: class {found!r} is not the {kind_text} {name} model "
                              f"({expected})")
    suffix = MODEL_SUFFIXES[bayesian]
    file_name = require(entry, "file", str, where)
    if not is_bare_file_name(file_name) or not file_name.endswith(suffix):
        raise ValidationError(f"{where}: file {file_name!r} must be the name of a {suffix} "
                              "file in the model directory (no folder, no '..', no absolute "
                              "path)")
    digest = require(entry, "sha256", str, where)
    if not _SHA256.fullmatch(digest):
        raise ValidationError(f"{where}: sha256 must be 64 hexadecimal digits, got {digest!r}")
    return name


def is_bare_file_name(name: str) -> bool:
    """Whether ``name`` names a file in a folder itself: no separator, no ``.``/``..``, not
    absolute on any system, no NUL."""
    return (bool(name) and name not in (".", "..") and "\x00" not in name
            and PurePosixPath(name).name == name and PureWindowsPath(name).name == name)


def _check_fit(fit: Mapping, names: dict[str, str | None], bayesian: bool, path: Any) -> None:
    """The fit settings: known keys, valid values, and the models the manifest lists."""
    where = f"{path}: fit"
    kinds: dict[str, Any] = {
        "model": str, "spend": str, "bayesian": bool, "penalizer": (int, float),
        "method": str, "draws": int, "tune": int, "chains": int, "seed": int,
        "warnings": list,
    }
    _known_fields(fit, tuple(kinds), where)
    for key, kind in kinds.items():
        if key in fit:
            require(fit, key, kind, where, nullable=key == "seed")
    spend = names["spend_model"] or NO_SPEND_MODEL
    if spend == NO_SPEND_MODEL and fit.get("spend", spend) != spend:
        raise ValidationError(f"{path} lists no spend model but says the models were fitted "
                              f"with --spend {fit['spend']}; the manifest was changed: fit the "
                              "models again")
    for key, listed in (("model", names["transaction_model"]), ("spend", spend),
                        ("bayesian", bayesian)):
        if fit.get(key, listed) != listed:
            raise ValidationError(f"{where}: says the models were fitted with {key} "
                                  f"{fit[key]!r}, but the manifest lists {listed!r}: the "
                                  "manifest was changed; fit the models again")
    least = {"penalizer": 0, "draws": 1, "tune": 0, "chains": 1}
    for key, bound in least.items():
        if key in fit and not (math.isfinite(fit[key]) and fit[key] >= bound):
            raise ValidationError(f"{where}: {key} must be >= {bound}, got {fit[key]!r}")
    if fit.get("method", "nuts") not in _METHODS:
        raise ValidationError(f"{where}: method must be one of {list(_METHODS)}, got "
                              f"{fit['method']!r}")
    if not all(isinstance(message, str) for message in fit.get("warnings", [])):
        raise ValidationError(f"{where}: warnings must be a list of texts")


__all__ = ["MANIFEST", "MODEL_DIR_FORMAT", "MODEL_DIR_VERSION", "MODEL_ROLES",
           "FIT_MODELS", "MODEL_SUFFIXES", "NO_SPEND_MODEL", "SPEND_CHOICES", "TRANSACTION_MODELS",
           "check_manifest", "is_bare_file_name", "new_manifest"]

"""A model directory: the fitted models of ``clvmodels fit`` and the manifest describing them.

The directory holds the purchase-count model and the spend model (none with ``--spend
none``), each in its own save format (JSON for maximum likelihood, netCDF for Bayesian
models), and ``manifest.json``: model names, fit settings, time unit, the data they were
fitted on, package version and a SHA-256 of each model file, all checked on load. The
directory is replaced as a whole (:func:`clvmodels.files.atomic.atomic_directory`), so a
reader sees the old models or the new ones, never a mix.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clvmodels.errors import DataError, InputFileError
from clvmodels.estimation.modelfile import read_json
from clvmodels.files.atomic import Staging, locked, recover, staged
from clvmodels.files.manifest import (
    MANIFEST,
    MODEL_DIR_FORMAT,
    MODEL_ROLES,
    MODEL_SUFFIXES,
    check_manifest,
)
from clvmodels.files.tables import sha256
from clvmodels.models import model_by_name
from clvmodels.models import model_class as registered_class
from clvmodels.validation import ValidationError


def is_model_directory(directory: Path) -> bool:
    """Whether ``directory`` holds a clvmodels manifest (so that it may be replaced)."""
    try:
        return json.loads((directory / MANIFEST).read_text()).get("format") == MODEL_DIR_FORMAT
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


def _model_class(name: str) -> type:
    """A model class by name, from the registry (never by ``getattr`` on the package)."""
    try:
        return registered_class(name)
    except ValueError as error:
        raise DataError(str(error)) from None


@dataclass
class ModelDirectory:
    """A fitted purchase-count model and spend model with the manifest describing them.

    Attributes
    ----------
    transaction_model, spend_model
        Fitted models (maximum likelihood or Bayesian); ``spend_model`` is None for a
        counts-only fit (``--spend none``).
    manifest : dict
        ``transaction_model`` / ``spend_model`` (command-line name, class, file, SHA-256;
        ``spend_model`` null without one), ``bayesian``, ``time_unit``, ``fit`` (settings),
        ``data`` (the RFM metadata and file), ``package_version`` and ``created``.
    """

    transaction_model: Any
    spend_model: Any | None
    manifest: dict[str, Any]

    @property
    def bayesian(self) -> bool:
        return bool(self.manifest["bayesian"])

    @property
    def time_unit(self) -> str:
        return self.manifest["time_unit"]

    def save(self, directory: str | os.PathLike, staging: Staging | None = None) -> None:
        """Write the models and the manifest into ``directory``, replacing it atomically
        (when ``staging`` commits, if given)."""
        suffix = MODEL_SUFFIXES[self.bayesian]
        manifest = dict(self.manifest)
        with (staged() if staging is None else nullcontext(staging) as staging,
              staging.directory(directory, is_model_directory, "model directory") as temporary):
            for role in MODEL_ROLES:
                if getattr(self, role) is None:  # counts only: no spend model, no file
                    manifest[role] = None
                    continue
                file_name = role + suffix
                getattr(self, role).save(temporary / file_name)
                manifest[role] = {
                    **manifest[role], "file": file_name, "sha256": sha256(temporary / file_name)
                }
            (temporary / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        self.manifest = manifest

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ModelDirectory:
        """Read a model directory, checking its manifest, file hashes and time unit.

        A directory whose replacement was interrupted is first put back
        (:func:`clvmodels.files.atomic.recover`); the reading holds the directory's lock
        shared, so no writer replaces it meanwhile.

        Raises
        ------
        InputFileError
            If the folder or one of its files is missing.
        DataError
            If the manifest is of another format or a newer version, a file does not match
            its hash, a model file cannot be read, or a directory whose manifest lists no
            spend model holds a spend model file (or says it was fitted with one).
        DependencyError
            If the models are Bayesian and the ``bayes`` extra is not installed.
        """
        directory = Path(directory)
        recover(directory)
        with locked(directory, shared=True):
            return cls._read(directory)

    @classmethod
    def _read(cls, directory: Path) -> ModelDirectory:
        if not directory.is_dir():
            what = "is a file" if directory.exists() else "not found"
            raise InputFileError(f"model directory {what}: {directory}")
        manifest_path = directory / MANIFEST
        if not manifest_path.is_file():
            raise InputFileError(
                f"{directory} is not a model directory (no {MANIFEST}); create one with "
                "clvmodels fit RFM -o DIRECTORY"
            )
        try:
            manifest = read_json(manifest_path, "model manifest")
            check_manifest(manifest, manifest_path)
        except ValidationError as error:
            raise DataError(str(error)) from None
        models = {"spend_model": None}
        for role in MODEL_ROLES:
            entry = manifest[role]
            if entry is None:  # counts only (the schema allows it for the spend model alone)
                _check_no_spend_model(directory)
                continue
            path = directory / entry["file"]
            if path.is_symlink():
                raise DataError(f"{path} is a symbolic link; a model directory holds its model "
                                "files itself (copy the files, not links to them)")
            if not path.is_file():
                raise InputFileError(f"model file missing: {path} (listed in {manifest_path})")
            if sha256(path) != entry["sha256"]:
                raise DataError(
                    f"{path} does not match the checksum in {manifest_path}: the file was "
                    "changed or only partly copied; fit the model again"
                )
            model_class = _model_class(entry["class"])
            try:
                models[role] = model_class.load(path)
            except (ValueError, TypeError, OSError, KeyError) as error:
                raise DataError(f"cannot read {path}: {error}") from None
        model_unit = getattr(models["transaction_model"], "time_unit_", None)
        if model_unit and model_unit != manifest["time_unit"]:
            raise DataError(
                f"{directory}: the manifest says time unit {manifest['time_unit']!r} but the "
                f"transaction model was fitted in {model_unit!r}"
            )
        return cls(models["transaction_model"], models["spend_model"], manifest)


def _check_no_spend_model(directory: Path) -> None:
    """A directory whose manifest lists no spend model holds no spend model file either."""
    stray = sorted(p.name for p in directory.glob("spend_model.*"))
    if stray:
        raise DataError(
            f"{directory} holds {stray[0]} but its {MANIFEST} lists no spend model (fitted with "
            "--spend none): the directory was changed after clvmodels fit wrote it; fit the "
            "models again"
        )


def model_class(name: str, *, bayesian: bool, spend: bool = False) -> type:
    """The class behind a command-line model name."""
    return model_by_name(name, kind="spend" if spend else "purchase").estimator(bayesian)


__all__ = ["ModelDirectory", "is_model_directory", "model_class"]

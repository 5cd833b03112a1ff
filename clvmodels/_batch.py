"""The files of the batch command line: tables, model directories and atomic writes.

* Tables are CSV (optionally gzip-compressed) or Parquet, chosen by the file name, and plain:
  ``pd.read_csv`` / ``pd.read_parquet`` read them as they are. An RFM table carries its metadata
  (time unit, observation end, where it came from): in Parquet as schema metadata under the key
  ``clvmodels``, beside a CSV file in a sidecar ``<file>.json`` (``rfm.csv`` ->
  ``rfm.csv.json``) that records the SHA-256 of the table it describes, so a table changed or
  copied without its sidecar is noticed on reading. CSV files of earlier versions, whose first
  line is ``# clvmodels {json}``, are still read. Score tables are plain CSV (no sidecar).
* A model directory holds the purchase-count model and the spend model (none with
  ``--spend none``), each in its own save format (JSON for maximum likelihood, netCDF for
  Bayesian models), and ``manifest.json``: model names, fit settings, time unit, the data they
  were fitted on, package version and a SHA-256 of each model file, all checked on load.
* Every output is written to a temporary file (or folder) in its destination folder and then
  renamed over the destination, so a failed run leaves the previous output as it was; a CSV
  table and its sidecar are replaced together (if one cannot be, neither is).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from clvmodels.errors import (  # noqa: F401 (the exit codes, re-exported for the CLI)
    EXIT_BUG,
    EXIT_DATA,
    EXIT_DEPENDENCY,
    EXIT_FIT,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    BatchError,
    DataError,
    DependencyError,
    FitError,
    InputFileError,
    OutputFileError,
)
from clvmodels.estimation.base import package_version
from clvmodels.models import MODELS, PURCHASE_MODELS, SPEND_MODELS, model_by_name
from clvmodels.models import model_class as registered_class
from clvmodels.timeunit import TimeUnit

RFM_FORMAT = "clvmodels.rfm"
MODEL_DIR_FORMAT = "clvmodels.model-directory"
#: The newest model-directory format this version reads. Format 2 allows a directory without a
#: spend model (``--spend none``); directories with one are still written as format 1, which
#: every earlier version reads.
MODEL_DIR_VERSION = 2
MANIFEST = "manifest.json"
_LEGACY_CSV_MARKER = "# clvmodels "  # the metadata line of CSV files before the sidecars
_METADATA_KEY = b"clvmodels"
_SIDECAR_TABLE_KEY = "table"  # the sidecar's record of the table it describes

#: Transaction-model and spend-model names of the command line (see clvmodels.models.MODELS).
TRANSACTION_MODELS = PURCHASE_MODELS
#: The ``--spend`` value of a counts-only fit (no spend model, no value columns).
NO_SPEND_MODEL = "none"
SPEND_CHOICES = (*SPEND_MODELS, NO_SPEND_MODEL)
MODEL_ROLES = ("transaction_model", "spend_model")


@contextmanager
def caught_user_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collect every UserWarning of a block (each time it is raised) into the yielded list,
    for the caller to show as notes; other warnings are passed on as they were."""
    user_warnings: list[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield user_warnings
    for warning in caught:
        if issubclass(warning.category, UserWarning):
            user_warnings.append(warning)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)


# ----------------------------------------------------------------------------- atomic writes
def _umask_mode(mode: int) -> int:
    # mkstemp/mkdtemp create private files; give outputs the usual permissions instead.
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _prepare_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFileError(f"cannot write {path}: {error.strerror}") from None


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` keeps its previous content.
    """
    with atomic_files(path) as (temporary,):
        yield temporary


@contextmanager
def atomic_files(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; on success they replace ``paths``
    together.

    If writing a temporary file or replacing one of the files fails, the files already
    replaced get their previous content back (or are removed if they did not exist), so either
    every file is new or every file is as it was. (A crash of the machine between two renames
    can still leave a mix; the RFM sidecar records its table's SHA-256 to catch that.)
    """
    targets = [Path(path) for path in paths]
    temporaries: list[Path] = []
    backups: list[Path] = []  # the previous content of targets about to be replaced
    replaced: dict[Path, Path | None] = {}  # target replaced -> its previous content
    try:
        for path in targets:
            _prepare_parent(path)
            if path.is_dir():
                raise OutputFileError(f"cannot write {path}: it is a directory")
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                            suffix=".tmp")
            os.close(handle)
            temporaries.append(Path(name))
        yield temporaries
        for path, temporary in zip(targets, temporaries, strict=True):
            os.chmod(temporary, _umask_mode(0o666))
            # One file is replaced in one rename; of several, each keeps its old content
            # aside (a hard link: no copy) until all are replaced.
            backup = _keep_aside(path) if len(targets) > 1 else None
            if backup is not None:
                backups.append(backup)
            os.replace(temporary, path)
            replaced[path] = backup
    except BaseException as error:
        for path, backup in replaced.items():
            with suppress(OSError):
                if backup is not None:
                    os.replace(backup, path)
                else:
                    path.unlink(missing_ok=True)
        for temporary in temporaries:
            with suppress(FileNotFoundError):
                temporary.unlink()
        if isinstance(error, OSError):  # disk full, permissions ...: the user's to fix
            failed = " and ".join(map(str, targets))
            raise OutputFileError(f"cannot write {failed}: {error.strerror or error}") from error
        raise
    finally:
        for backup in backups:
            with suppress(OSError):
                backup.unlink(missing_ok=True)


def _keep_aside(path: Path) -> Path | None:
    """A second name for the current content of ``path`` (None if there is none)."""
    if not path.exists():
        return None
    backup = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
    try:
        os.link(path, backup)
    except OSError:  # a file system without hard links
        shutil.copy2(path, backup)
    return backup


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it takes the place of ``path``.

    An existing ``path`` is replaced only if it is empty or a model directory (it holds a
    clvmodels manifest), never an unrelated folder. The swap is two renames, so a reader sees
    the complete old folder or the complete new one (or, for an instant, none).
    """
    path = Path(path)
    _prepare_parent(path)
    if path.exists():
        if not path.is_dir():
            raise OutputFileError(f"cannot write the model directory {path}: it is a file")
        if any(path.iterdir()) and _read_manifest_format(path) != MODEL_DIR_FORMAT:
            raise OutputFileError(
                f"refusing to replace {path}: it is not empty and not a clvmodels model "
                "directory; choose another output folder"
            )
    try:
        temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as error:
        raise OutputFileError(f"cannot write {path}: {error.strerror}") from None
    try:
        yield temporary
        os.chmod(temporary, _umask_mode(0o777))
        if path.exists():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
            os.rename(path, old)
            try:
                os.rename(temporary, path)
            except BaseException:
                os.rename(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(temporary, path)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, OSError):
            raise OutputFileError(f"cannot write {path}: {error.strerror or error}") from error
        raise


def _read_manifest_format(directory: Path) -> str | None:
    try:
        return json.loads((directory / MANIFEST).read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        return None


# ----------------------------------------------------------------------------- tables
def table_kind(path: str | os.PathLike) -> str:
    """``"csv"`` or ``"parquet"``, from the file name (``.csv``, ``.csv.gz``, ``.parquet``).

    Raises
    ------
    ValueError
        For any other file name.
    """
    name = Path(path).name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValueError(f"{path}: unsupported file type; expected .csv, .csv.gz or .parquet")


def require_pyarrow(path: Path) -> Any:
    """``pyarrow.parquet``, or a DependencyError naming the extra."""
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DependencyError(
            f"{path}: Parquet files need pyarrow; install it with pip install \"clvmodels[fast]\" "
            "or use CSV"
        ) from None
    return parquet


def require_duckdb() -> None:
    """Refuse the DuckDB engine, naming the extra, when duckdb is not installed."""
    try:
        import duckdb  # noqa: F401
    except ImportError:
        raise DependencyError(
            'the duckdb engine needs duckdb; install it with pip install "clvmodels[fast]"'
        ) from None


def check_readable(path: Path, role: str) -> None:
    """Fail with an InputFileError unless ``path`` is a readable file."""
    if not path.exists():
        raise InputFileError(f"{role} file not found: {path}")
    if path.is_dir():
        raise InputFileError(f"{role} file {path} is a directory")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{role} file {path} is not readable (permission denied)")


def sidecar_path(path: str | os.PathLike) -> Path:
    """The metadata file beside a CSV table: ``rfm.csv`` -> ``rfm.csv.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_table(
    path: str | os.PathLike, *, role: str, text_columns: tuple[str, ...] = (),
    text_id: bool = False, metadata: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a CSV or Parquet table and its clvmodels metadata (``{}`` when it has none).

    ``text_columns`` of a CSV file are read as text, untouched (ids such as ``00123`` keep
    their zeros; dates are parsed later, with the user's format), and with ``text_id`` also
    the customer id column the metadata names (else the first column). ``role`` names the
    file in messages ("transactions", "RFM"). The metadata of a CSV file is its sidecar
    (:func:`sidecar_path`, read only with ``metadata``), else the first line of a file written
    by an earlier version.

    Raises
    ------
    DataError
        If the file cannot be parsed, or its sidecar is unreadable or describes another table.
    """
    path = Path(path)
    check_readable(path, role)
    try:
        kind = table_kind(path)
    except ValueError as error:
        raise InputFileError(f"{role} {error}") from None
    if kind == "parquet":
        parquet = require_pyarrow(path)
        try:
            table = parquet.read_table(path)
        except Exception as error:  # pyarrow raises its own ArrowInvalid, OSError ...
            raise DataError(f"{role} file {path} is not a readable Parquet file: {error}") from None
        raw = (table.schema.metadata or {}).get(_METADATA_KEY)
        frame = table.to_pandas()
        frame.attrs = {}  # pandas' own copy of attrs, if any: the clvmodels key is the record
        if not isinstance(frame.index, pd.RangeIndex):  # pandas wrote its index: a column here
            frame = frame.reset_index()
        return frame, (json.loads(raw) if raw else {})
    sidecar = sidecar_path(path)
    found = _read_sidecar(sidecar, path, role) if metadata and sidecar.exists() else {}
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            first = handle.readline()
        skip = 0
        if first.startswith(_LEGACY_CSV_MARKER):
            skip = 1
            if not found:
                found = json.loads(first[len(_LEGACY_CSV_MARKER):])
        header = pd.read_csv(path, nrows=0, skiprows=skip).columns
        text = list(text_columns)
        if text_id and len(header):
            text.append(found.get("customer_col") or header[0])
        dtypes = {column: str for column in text if column in header}
        frame = pd.read_csv(path, skiprows=skip, dtype=dtypes)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError,
            EOFError, gzip.BadGzipFile) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{role} file {path} is not a readable CSV file: {message}") from None
    return frame, found


def _read_sidecar(sidecar: Path, table_path: Path, role: str) -> dict[str, Any]:
    """The metadata in ``sidecar``, checked to describe the table file as it is now."""
    try:
        document = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{role} metadata file {sidecar} is not readable JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get(_SIDECAR_TABLE_KEY), dict):
        raise DataError(f"{sidecar} is not a clvmodels metadata file (it should describe "
                        f"{table_path.name}); move it away to read {table_path} without it")
    described = document.pop(_SIDECAR_TABLE_KEY)
    if described.get("sha256") != sha256(table_path):
        raise DataError(
            f"{role} file {table_path} does not match its metadata file {sidecar}, which was "
            "written for other content (the table was changed or replaced, or a write was cut "
            f"short); write both again with clvmodels summarize, or delete {sidecar.name} to "
            "read the table without metadata (then pass --time-unit)"
        )
    return document


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metadata: dict[str, Any] | None = None,
    csv_metadata: bool = True,
) -> None:
    """Write a table (its index as the first column) atomically as CSV or Parquet.

    ``metadata`` (JSON-safe) goes into the Parquet schema, and, when ``csv_metadata`` is true,
    into the sidecar of a CSV file (:func:`sidecar_path`) with the SHA-256 of the table; the
    two are replaced together. The CSV file itself stays a plain table.
    """
    path = Path(path)
    kind = table_kind(path)
    flat = frame.reset_index()
    flat.attrs = {}  # the metadata argument is the record; pandas would store attrs itself
    document = json.dumps(metadata) if metadata else None
    if kind == "parquet":
        parquet = require_pyarrow(path)
        import pyarrow as pa

        table = pa.Table.from_pandas(flat, preserve_index=False)
        if document:
            merged = {**(table.schema.metadata or {}), _METADATA_KEY: document.encode()}
            table = table.replace_schema_metadata(merged)
        with atomic_file(path) as temporary:
            parquet.write_table(table, temporary)
        return
    if not (document and csv_metadata):
        with atomic_file(path) as temporary:
            _write_csv(flat, temporary, path)
        return
    with atomic_files(path, sidecar_path(path)) as (temporary, sidecar):
        _write_csv(flat, temporary, path)
        described = {_SIDECAR_TABLE_KEY: {"file": path.name, "sha256": sha256(temporary)}}
        sidecar.write_text(json.dumps({**metadata, **described}, indent=2) + "\n",
                           encoding="utf-8")


def _write_csv(flat: pd.DataFrame, temporary: Path, path: Path) -> None:
    """``flat`` as CSV into ``temporary``, gzip-compressed if ``path`` ends in ``.gz``."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(temporary, "wt", encoding="utf-8", newline="") as handle:
        flat.to_csv(handle, index=False)


# ----------------------------------------------------------------------------- RFM files
#: The ``attrs`` of :func:`~clvmodels.rfm_summary` an RFM file records (and gives back).
RFM_ATTRS = ("time_unit", "observation_end", "n_transactions", "n_transactions_excluded",
             "n_customers_excluded")


def rfm_metadata(rfm: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """The metadata stored with an RFM table: its ``attrs`` plus ``extra`` (source, columns)."""
    attrs = rfm.attrs
    return {
        "format": RFM_FORMAT,
        "format_version": 1,
        "package_version": package_version(),
        "customer_col": rfm.index.name,
        **{name: attrs.get(name) for name in RFM_ATTRS},
        "observation_end": _iso(attrs.get("observation_end")),
        **extra,
    }


def _iso(value: Any) -> str | None:
    return None if value is None else pd.Timestamp(value).isoformat()


def read_rfm(
    path: str | os.PathLike, *, time_unit: str | None = None, default_time_unit: str | None = None
) -> pd.DataFrame:
    """Read an RFM table written by ``clvmodels summarize`` (or by hand).

    The customer id is the first column (or the one the metadata names). The time unit comes
    from the metadata; ``time_unit`` (the user's) must agree with it. A table without metadata
    takes ``time_unit``, else ``default_time_unit`` (that of the models scoring it), else is
    refused. ``attrs`` gets those of :func:`~clvmodels.rfm_summary` that the metadata records
    (:data:`RFM_ATTRS`: ``time_unit``; ``observation_end`` as an ISO string, or None) and the
    whole metadata under ``"metadata"``, all JSON-safe.
    """
    path = Path(path)
    frame, metadata = read_table(path, role="RFM", text_id=True)
    if metadata and metadata.get("format") != RFM_FORMAT:
        raise DataError(f"RFM file {path} holds a {metadata.get('format')!r} table, not RFM")
    if len(frame.columns) == 0:
        raise DataError(f"RFM file {path} has no columns")
    customer_col = metadata.get("customer_col") or frame.columns[0]
    if customer_col not in frame.columns:
        raise DataError(f"RFM file {path}: customer id column {customer_col!r} is missing")
    frame = frame.set_index(customer_col)
    stored_unit = metadata.get("time_unit")
    unit = TimeUnit.parse(time_unit).value if time_unit else None
    if stored_unit and unit and stored_unit != unit:
        raise DataError(
            f"RFM file {path} is in time unit {stored_unit!r}, not {unit!r}; leave out "
            "--time-unit or summarise the transactions again"
        )
    unit = stored_unit or unit or default_time_unit
    if unit is None:
        raise DataError(
            f"RFM file {path} does not say its time unit (it was not written by clvmodels "
            "summarize); pass --time-unit"
        )
    recorded = {name: metadata[name] for name in RFM_ATTRS if metadata.get(name) is not None}
    frame.attrs.update(recorded, time_unit=unit,
                       observation_end=_iso(metadata.get("observation_end")), metadata=metadata)
    return frame


# ----------------------------------------------------------------------------- model directories
def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

    def save(self, directory: str | os.PathLike) -> None:
        """Write the models and the manifest into ``directory``, replacing it atomically."""
        suffix = ".nc" if self.bayesian else ".json"
        manifest = dict(self.manifest)
        with atomic_directory(directory) as temporary:
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
            manifest = json.loads(manifest_path.read_text())
        except ValueError as error:
            raise DataError(f"{manifest_path} is not valid JSON: {error}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != MODEL_DIR_FORMAT:
            raise DataError(f"{manifest_path} is not a clvmodels model manifest")
        if manifest.get("format_version", 0) > MODEL_DIR_VERSION:
            raise DataError(
                f"{directory} was written by clvmodels {manifest.get('package_version')} in "
                f"model-directory format {manifest['format_version']}; this clvmodels "
                f"({package_version()}) reads up to {MODEL_DIR_VERSION}. Upgrade clvmodels."
            )
        models = {"spend_model": None}
        for role in MODEL_ROLES:
            entry = manifest.get(role)
            if entry is None and role == "spend_model":
                _check_no_spend_model(directory, manifest)
                continue
            if not isinstance(entry, dict):
                raise DataError(f"{manifest_path} does not describe the {role.replace('_', ' ')}")
            path = directory / entry["file"]
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
            except (ValueError, OSError, KeyError) as error:
                raise DataError(f"cannot read {path}: {error}") from None
        model_unit = getattr(models["transaction_model"], "time_unit_", None)
        if model_unit and model_unit != manifest["time_unit"]:
            raise DataError(
                f"{directory}: the manifest says time unit {manifest['time_unit']!r} but the "
                f"transaction model was fitted in {model_unit!r}"
            )
        return cls(models["transaction_model"], models["spend_model"], manifest)


def _check_no_spend_model(directory: Path, manifest: dict[str, Any]) -> None:
    """A manifest without a spend model must say so consistently and stand alone."""
    fitted_with = manifest.get("fit", {}).get("spend", NO_SPEND_MODEL)
    if fitted_with != NO_SPEND_MODEL:
        raise DataError(
            f"{directory / MANIFEST} lists no spend model but says the models were fitted with "
            f"--spend {fitted_with}; the manifest was changed: fit the models again"
        )
    stray = sorted(p.name for p in directory.glob("spend_model.*"))
    if stray:
        raise DataError(
            f"{directory} holds {stray[0]} but its {MANIFEST} lists no spend model (fitted with "
            "--spend none): the directory was changed after clvmodels fit wrote it; fit the "
            "models again"
        )


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


def model_class(name: str, *, bayesian: bool, spend: bool = False) -> type:
    """The class behind a command-line model name."""
    return model_by_name(name, kind="spend" if spend else "purchase").estimator(bayesian)

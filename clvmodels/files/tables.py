"""Tables the command line reads and writes: CSV (optionally gzip-compressed) or Parquet.

Tables are plain: ``pd.read_csv`` / ``pd.read_parquet`` read them as they are. An RFM table
carries its metadata (time unit, observation end, where it came from): in Parquet as schema
metadata under the key ``clvmodels``, beside a CSV file in a sidecar ``<file>.json``
(``rfm.csv`` -> ``rfm.csv.json``) that records the SHA-256 of the table it describes, so a
table changed or copied without its sidecar is noticed on reading. CSV files of earlier
versions, whose first line is ``# clvmodels {json}``, are still read. Score tables are plain
CSV (no sidecar). Every table is written atomically (:mod:`clvmodels.files.atomic`), a CSV
table and its sidecar together. In CSV files, text cells a spreadsheet would run as formulas
(``=HYPERLINK(...)`` ...) are defused with a leading quote (:mod:`clvmodels.files.formulas`);
Parquet files hold the values exactly.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from clvmodels.errors import DataError, DependencyError, InputFileError
from clvmodels.estimation.base import package_version
from clvmodels.files.atomic import Staging, staged
from clvmodels.files.formulas import neutralise_formulas, restore_formulas
from clvmodels.timeunit import TimeUnit

RFM_FORMAT = "clvmodels.rfm"
_LEGACY_CSV_MARKER = "# clvmodels "  # the metadata line of CSV files before the sidecars
_METADATA_KEY = b"clvmodels"
_SIDECAR_TABLE_KEY = "table"  # the sidecar's record of the table it describes
_DEFUSED_KEY = "defused_formulas"  # in that record: cells were defused (files.formulas)
#: The ``attrs`` of :func:`~clvmodels.rfm_summary` an RFM file records (and gives back).
RFM_ATTRS = ("time_unit", "observation_end", "n_transactions", "n_transactions_excluded",
             "n_customers_excluded")


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def require_pyarrow(path: str | os.PathLike) -> Any:
    """``pyarrow.parquet``, or a DependencyError naming the extra."""
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DependencyError(
            f"{path}: Parquet files need pyarrow; install it with pip install \"clvmodels[fast]\" "
            "or use CSV"
        ) from None
    return parquet


def check_readable(path: Path, role: str) -> None:
    """Fail with an InputFileError unless ``path`` is a readable file."""
    if not path.exists():
        raise InputFileError(f"{role} file not found: {path}")
    if path.is_dir():
        raise InputFileError(f"{role} file {path} is a directory")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{role} file {path} is not readable (permission denied)")


def _readable_kind(path: Path, role: str) -> str:
    """The kind of a table file to read (see :func:`table_kind`), checked to be readable."""
    check_readable(path, role)
    try:
        return table_kind(path)
    except ValueError as error:
        raise InputFileError(f"{role} {error}") from None


def sidecar_path(path: str | os.PathLike) -> Path:
    """The metadata file beside a CSV table: ``rfm.csv`` -> ``rfm.csv.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def read_table(
    path: str | os.PathLike, *, role: str, text_columns: tuple[str, ...] = (),
    text_id: bool = False, metadata: bool = True, encoding: str = "utf-8",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a CSV or Parquet table and its clvmodels metadata (``{}`` when it has none).

    ``text_columns`` of a CSV file are read as text, untouched (ids such as ``00123`` keep
    their zeros; dates are parsed later, with the user's format), and with ``text_id`` also
    the customer id column the metadata names (else the first column). ``role`` names the
    file in messages ("transactions", "RFM"). The metadata of a CSV file is its sidecar
    (:func:`sidecar_path`, read only with ``metadata``), else the first line of a file written
    by an earlier version. A CSV file is decoded with ``encoding`` (its sidecar is UTF-8).

    Raises
    ------
    DataError
        If the file cannot be parsed (not CSV, not text in ``encoding``, a broken gzip
        stream or Parquet file), or its sidecar is unreadable or describes another table.
    """
    path = Path(path)
    kind = _readable_kind(path, role)
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
    found, described = (_read_sidecar(sidecar, path, role) if metadata and sidecar.exists()
                        else ({}, {}))
    defused = described.get(_DEFUSED_KEY) is True  # cells defused as formulas when written
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding=encoding) as handle:
            first = handle.readline()
        skip = 0
        if first.startswith(_LEGACY_CSV_MARKER):
            skip = 1
            if not found:
                found = json.loads(first[len(_LEGACY_CSV_MARKER):])
        header = pd.read_csv(path, nrows=0, skiprows=skip, encoding=encoding)
        names = (restore_formulas(header) if defused else header).columns
        text = list(text_columns)
        if text_id and len(names):
            text.append(found.get("customer_col") or names[0])
        dtypes = {raw: str for raw, name in zip(header.columns, names, strict=True)
                  if name in text}
        frame = pd.read_csv(path, skiprows=skip, dtype=dtypes, encoding=encoding)
        if defused:
            frame = restore_formulas(frame)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeError, ValueError,
            EOFError, gzip.BadGzipFile, zlib.error) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if isinstance(error, UnicodeError) and role == "transactions":
            message += f" (not {encoding} text: name its encoding, e.g. --encoding latin-1)"
        elif isinstance(error, zlib.error):
            message = f"its gzip stream is corrupt ({message})"
        raise DataError(f"{role} file {path} is not a readable CSV file: {message}") from None
    return frame, found


def read_with_duckdb(path: str | os.PathLike, columns: tuple[str, ...], *, role: str
                     ) -> pd.DataFrame:
    """The ``columns`` of a CSV or Parquet file (those it has), read by DuckDB into pandas.

    CSV values are read as text, as :func:`read_table` reads ids and dates (and as DuckDB's
    CSV reader, delimiter detection included, reads them for the DuckDB engine).

    Raises
    ------
    DependencyError
        If duckdb is not installed.
    DataError
        If DuckDB cannot read the file.
    """
    path = Path(path)
    kind = _readable_kind(path, role)
    duckdb = require_duckdb()
    source = "read_parquet(?)" if kind == "parquet" else "read_csv(?, all_varchar = true)"
    try:
        with duckdb.connect() as connection:
            found = [column[0] for column in connection.execute(
                f"SELECT * FROM {source} LIMIT 0", [str(path)]).description]
            chosen = [column for column in columns if column in found] or found
            selected = ", ".join('"' + column.replace('"', '""') + '"' for column in chosen)
            return connection.execute(f"SELECT {selected} FROM {source}", [str(path)]).df()
    except duckdb.Error as error:
        raise unreadable_by_duckdb(path, role, error) from None


def unreadable_by_duckdb(path: str | os.PathLike, role: str, error: BaseException
                         ) -> DataError:
    """The one-line error for a file DuckDB could not read (its message's first line)."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DataError(f"{role} file {path} is not a readable file (DuckDB: {message})")


def require_duckdb() -> Any:
    """The duckdb module, or a DependencyError naming the extra."""
    try:
        import duckdb
    except ImportError:
        raise DependencyError(
            'the duckdb engine needs duckdb; install it with pip install "clvmodels[fast]"'
        ) from None
    return duckdb


def _read_sidecar(sidecar: Path, table_path: Path, role: str
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metadata in ``sidecar``, checked to describe the table file as it is now, and its
    record of the table (file, SHA-256, whether cells were defused as formulas)."""
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
    return document, described


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike,
    *,
    metadata: dict[str, Any] | None = None,
    csv_metadata: bool = True,
    staging: Staging | None = None,
) -> None:
    """Write a table (its index as the first column) atomically as CSV or Parquet.

    ``metadata`` (JSON-safe) goes into the Parquet schema, and, when ``csv_metadata`` is true,
    into the sidecar of a CSV file (:func:`sidecar_path`) with the SHA-256 of the table; the
    two are replaced together. The CSV file itself stays a plain table, in which text cells
    and column names a spreadsheet would run as formulas are defused
    (:mod:`clvmodels.files.formulas`; the sidecar records it, so :func:`read_table` gives
    them back as they were); Parquet is written exactly. With ``staging`` the files are
    staged there (replaced when it commits), else replaced at once.
    """
    path = Path(path)
    kind = table_kind(path)
    flat = frame.reset_index()
    flat.attrs = {}  # the metadata argument is the record; pandas would store attrs itself
    document = json.dumps(metadata) if metadata else None
    with staged() if staging is None else nullcontext(staging) as staging:
        if kind == "parquet":
            parquet = require_pyarrow(path)
            import pyarrow as pa

            table = pa.Table.from_pandas(flat, preserve_index=False)
            if document:
                merged = {**(table.schema.metadata or {}), _METADATA_KEY: document.encode()}
                table = table.replace_schema_metadata(merged)
            with staging.files(path) as (temporary,):
                parquet.write_table(table, temporary)
        elif not (document and csv_metadata):
            with staging.files(path) as (temporary,):
                _write_csv(neutralise_formulas(flat)[0], temporary, path)
        else:
            with staging.files(path, sidecar_path(path)) as (temporary, sidecar):
                defused_table, defused = neutralise_formulas(flat)
                _write_csv(defused_table, temporary, path)
                described = {"file": path.name, "sha256": sha256(temporary),
                             **({_DEFUSED_KEY: True} if defused else {})}
                sidecar.write_text(json.dumps({**metadata, _SIDECAR_TABLE_KEY: described},
                                              indent=2) + "\n", encoding="utf-8")


def _write_csv(flat: pd.DataFrame, temporary: Path, path: Path) -> None:
    """``flat`` as CSV into ``temporary``, gzip-compressed if ``path`` ends in ``.gz``.

    pandas quotes a text cell holding a line break only if it holds the line terminator, so
    a carriage return in a cell (an id ``"\\rx"``) would split its row: a table with one is
    written with RFC 4180 line ends (``\\r\\n``), which quotes such cells.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(temporary, "wt", encoding="utf-8", newline="") as handle:
        flat.to_csv(handle, index=False,
                    lineterminator="\r\n" if _holds_carriage_return(flat) else "\n")


def _holds_carriage_return(frame: pd.DataFrame) -> bool:
    """Whether a text cell or a column name of ``frame`` holds a carriage return."""
    columns = [pd.Series(frame.columns, dtype=object)] + [
        frame.iloc[:, i] for i in range(frame.shape[1])
        if pd.api.types.is_string_dtype(frame.dtypes.iloc[i])]
    return any(column.str.contains("\r", regex=False, na=False).any() for column in columns)


# ----------------------------------------------------------------------------- RFM files
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
    try:
        stored_unit = (None if metadata.get("time_unit") is None
                       else TimeUnit.parse(metadata["time_unit"]).value)
    except ValueError as error:
        raise DataError(f"RFM file {path}: {error}") from None
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


__all__ = ["RFM_ATTRS", "RFM_FORMAT", "check_readable", "read_rfm", "read_table",
           "read_with_duckdb", "require_duckdb", "require_pyarrow", "rfm_metadata", "sha256",
           "sidecar_path", "table_kind", "unreadable_by_duckdb", "write_table"]

"""The header every saved model carries, checked one way for every format.

A model file (JSON for maximum-likelihood fits, netCDF for posteriors) and a model directory's
manifest record their format, the format version, the package that wrote them and (a model
file) the model class. :func:`check_header` refuses a file of another format, a newer version
or another model, :func:`read_json` reads a JSON file whatever its bytes, and :func:`require`
reads the other fields with their types checked: these files are untrusted input.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clvmodels.validation import ValidationError


def header(format_name: str, version: int, model: str, package: str) -> dict[str, Any]:
    """The header fields of a new file."""
    return {"format": format_name, "format_version": version, "model": model,
            "package_version": package}


def check_header(found: Any, path: str | os.PathLike, *, format_name: str, version: int,
                 model: str | None, package: str) -> None:
    """Refuse ``found`` unless it is a header of ``format_name`` up to ``version`` for the
    class named ``model`` (None: a file that holds no one model, e.g. a manifest);
    ``package`` is this clvmodels' version, for the message.

    Raises
    ------
    ValidationError
        Saying what the file is instead, or which clvmodels reads it.
    """
    if not isinstance(found, Mapping) or found.get("format") != format_name:
        raise ValidationError(f"{path}: not a clvmodels {format_name} file")
    found_version = found.get("format_version")
    if isinstance(found_version, bool) or not isinstance(found_version, int) or found_version < 1:
        raise ValidationError(f"{path}: format_version must be a whole number >= 1, got "
                              f"{found_version!r}")
    if found_version > version:
        raise ValidationError(
            f"{path}: written in format version {found_version} by clvmodels "
            f"{found.get('package_version')}; this clvmodels ({package}) reads versions up to "
            f"{version}. Upgrade clvmodels."
        )
    found_model = found.get("model")
    if model is not None and found_model != model:
        raise ValidationError(
            f"{path}: holds a {found_model!r} model, not a {model}"
            + (f"; load it with {found_model}.load()" if isinstance(found_model, str) else "")
        )


def read_json(path: str | os.PathLike, what: str = "model file") -> Any:
    """The JSON document in ``path``; ``what`` names the kind of file in messages.

    Raises
    ------
    ValidationError
        If the file is not UTF-8 text or not JSON (nested too deeply for Python included).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not a clvmodels {what} (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise ValidationError(f"{path}: not a clvmodels {what} (invalid JSON: "
                              f"{reason})") from None


def require(document: Mapping, key: str, kind: type | tuple[type, ...], path: Any, *,
            nullable: bool = False) -> Any:
    """``document[key]``, checked to be of ``kind`` (None allowed with ``nullable``).

    Booleans are not numbers here, and numbers must be finite unless ``nullable`` (NaN is
    stored as null).
    """
    if key not in document:
        raise ValidationError(f"{path}: missing field {key!r}")
    value = document[key]
    if value is None and nullable:
        return None
    numeric = kind in (int, float) or (isinstance(kind, tuple) and float in kind)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(
            k.__name__ for k in kind)
        raise ValidationError(f"{path}: field {key!r} must be {expected}"
                              + (" or null" if nullable else "") + f", got {value!r}")
    if numeric and not math.isfinite(value):
        raise ValidationError(f"{path}: field {key!r} must be finite, got {value!r}")
    return value


__all__ = ["check_header", "header", "read_json", "require"]

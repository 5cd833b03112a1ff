"""Atomic writes: every file and folder clvmodels writes appears whole or not at all.

Each output is written to a temporary file (or folder) in its destination folder and then
renamed over the destination, so a failed or interrupted write leaves the previous output as
it was and removes its temporary; an OSError (disk full, permissions) becomes an
:class:`~clvmodels.errors.OutputFileError` naming the path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from clvmodels.errors import OutputFileError


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
    path = Path(path)
    _prepare_parent(path)
    if path.is_dir():
        raise OutputFileError(f"cannot write {path}: it is a directory")
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OutputFileError(f"cannot write {path}: {error.strerror}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _umask_mode(0o666))
        os.replace(temporary, path)
    except BaseException as error:
        with suppress(FileNotFoundError):
            temporary.unlink()
        if isinstance(error, OSError) and not isinstance(error, OutputFileError):
            # disk full, permissions ...: the user's to fix
            raise OutputFileError(f"cannot write {path}: {error.strerror or error}") from error
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


@contextmanager
def atomic_directory(
    path: str | os.PathLike, replaceable: Callable[[Path], bool], what: str = "folder"
) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it takes the place of ``path``.

    An existing ``path`` is replaced only if it is empty or ``replaceable(path)`` says it is
    one of ours (e.g. a model directory), never an unrelated folder; ``what`` names the folder
    in messages. The swap is two renames, so a reader sees the complete old folder or the
    complete new one (or, for an instant, none).
    """
    path = Path(path)
    _prepare_parent(path)
    if path.exists():
        if not path.is_dir():
            raise OutputFileError(f"cannot write the {what} {path}: it is a file")
        if any(path.iterdir()) and not replaceable(path):
            raise OutputFileError(
                f"refusing to replace {path}: it is not empty and not a clvmodels {what}; "
                "choose another output folder"
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
        if isinstance(error, OSError) and not isinstance(error, OutputFileError):
            raise OutputFileError(f"cannot write {path}: {error.strerror or error}") from error
        raise

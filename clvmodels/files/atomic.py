"""Atomic writes: every file and folder clvmodels writes appears whole or not at all.

One mechanism serves every output. A :class:`Staging` writes each output to a temporary file
(or folder) beside its destination and, when everything is written, commits them together:
each destination is replaced by one rename. If writing or committing fails, or the process is
interrupted (SIGINT, and SIGTERM, which the command line turns into an interrupt), every
destination keeps its previous content and the temporaries are removed; an OSError (disk full,
permissions) becomes an :class:`~clvmodels.errors.OutputFileError` naming the output.

* A folder cannot be renamed over a non-empty folder, so replacing one is two renames (the old
  folder aside as ``.NAME.<hex>.old``, the new one into place). A process killed between them
  (SIGKILL, power loss) leaves the old folder aside: the next run that reads or writes that
  folder puts it back (rolls the swap back) and removes what is left of the new one.
* Writers of one destination are serialised by a lock (POSIX ``flock`` on ``.NAME.lock``
  beside it, held only while temporaries are created and while the renames run, and removed
  when released); readers of a model directory hold it shared, so they never see a swap half
  done. A writer waits up to :data:`LOCK_TIMEOUT` seconds, then fails with exit code 6.
* Temporaries are named ``.NAME.<host>-<pid>.<random>.tmp``: the next run writing ``NAME``
  removes those whose process on this host has ended (killed before it could clean up).
* Several outputs committed together (``clvmodels run``; a CSV table and its sidecar) are
  renamed one after the other, with the previous content of each kept aside until all are
  replaced: a failure (or an interrupt) puts back those already replaced. Interrupts are held
  back while the renames run. Only a kill or a crash in those milliseconds can leave some
  outputs new and some old (an RFM table's sidecar records the table's SHA-256 to catch it).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

from clvmodels.errors import InputFileError, OutputFileError

try:  # POSIX; elsewhere writers are not serialised (each output is still renamed atomically)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Seconds a writer (or a reader of a model directory) waits for another process's lock.
LOCK_TIMEOUT = 60.0
_LOCK_POLL = 0.02
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


# ----------------------------------------------------------------------------- names
def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{_HOST}-{os.getpid()}."


def _temporary_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(path.name)}\.([0-9a-f]{{8}})-(\d+)\.[^.]+\.tmp")


def _backup_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{32}}\.old")


def _backup_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _process_ended(host: str, pid: int) -> bool:
    """Whether the process that made a temporary has ended (never said of another host's)."""
    if host != _HOST or os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: alive
        return False
    return False


def _remove(path: Path) -> None:
    """Remove a file or a folder tree, if it is there."""
    with suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _umask_mode(mode: int) -> int:
    # mkstemp/mkdtemp create private files; give outputs the usual permissions instead.
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _output_error(targets: list[Path], error: OSError) -> OutputFileError:
    failed = " and ".join(map(str, targets))
    return OutputFileError(f"cannot write {failed}: {error.strerror or error}")


# ----------------------------------------------------------------------------- locks
@contextmanager
def locked(path: str | os.PathLike, *, shared: bool = False,
           timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of the destination ``path`` (exclusive, or ``shared`` among readers).

    The lock file ``.NAME.lock`` beside ``path`` is created for the purpose and removed by the
    last holder; a holder that was killed leaves it unlocked. A folder where no lock file can
    be created (read-only) is read without one.

    Raises
    ------
    OutputFileError
        For a writer, if another process holds the lock for ``timeout`` seconds (default
        :data:`LOCK_TIMEOUT`).
    InputFileError
        The same for a reader.
    """
    path = Path(path)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock_path = _lock_path(path)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            if shared and error.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                yield  # a read-only folder: no writer can swap anything in it either
                return
            raise _output_error([path], error) from None
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            if time.monotonic() > deadline:
                message = (f"{path} is locked by another clvmodels process (for more than "
                           f"{timeout:g} s; lock file {lock_path.name}); try again later")
                raise (InputFileError if shared else OutputFileError)(message) from None
            time.sleep(_LOCK_POLL)
            continue
        # The file may have been removed (and another made) by the holder we waited for.
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        held = os.fstat(handle)
        if current is not None and (current.st_ino, current.st_dev) == (held.st_ino,
                                                                          held.st_dev):
            break
        os.close(handle)
    try:
        yield
    finally:
        try:
            if shared:  # only the last reader removes the file
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with suppress(FileNotFoundError):
                lock_path.unlink()
        except BlockingIOError:
            pass  # another holder: the last one removes it
        finally:
            os.close(handle)


@contextmanager
def _locked_all(paths: list[Path]) -> Iterator[None]:
    """Every lock of ``paths``, taken in one order (no two processes wait on each other)."""
    with ExitStack() as stack:
        for path in sorted(set(paths)):
            stack.enter_context(locked(path))
        yield


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Defer SIGINT and SIGTERM while a block of renames runs: a signal that arrives meanwhile
    is raised again, to its own handler, as the block ends (main thread only; elsewhere
    Python runs no signal handlers anyway)."""
    received: list[int] = []

    def defer(signum: int, frame: object) -> None:
        received.append(signum)

    try:
        previous = {number: signal.signal(number, defer)
                    for number in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(received):
            signal.raise_signal(number)


# ----------------------------------------------------------------------------- recovery
def _recover(path: Path) -> None:
    """With the lock of ``path`` held: finish what interrupted writers left.

    A folder missing but kept aside (a swap killed between its renames) is put back; other
    backups, and temporaries of processes that have ended, are removed.
    """
    parent = path.parent
    try:
        names = [entry.name for entry in os.scandir(parent)]
    except OSError:
        return
    temporaries, backups = _temporary_pattern(path), _backup_pattern(path)
    kept_aside = [parent / name for name in names if backups.fullmatch(name)]
    folders = [backup for backup in kept_aside if backup.is_dir()]
    if folders and not os.path.lexists(path):
        newest = max(folders, key=lambda backup: backup.stat().st_mtime)
        os.rename(newest, path)
        kept_aside.remove(newest)
    for backup in kept_aside:
        _remove(backup)
    for name in names:
        match = temporaries.fullmatch(name)
        if match and _process_ended(match[1], int(match[2])):
            _remove(parent / name)


def needs_recovery(path: str | os.PathLike) -> bool:
    """Whether an interrupted write left something beside ``path`` (or took it away)."""
    path = Path(path)
    try:
        names = [entry.name for entry in os.scandir(path.parent)]
    except OSError:
        return False
    leftovers = _temporary_pattern(path), _backup_pattern(path)
    return any(pattern.fullmatch(name) for name in names for pattern in leftovers)


def recover(path: str | os.PathLike) -> None:
    """Put back a folder whose replacement was interrupted, and remove the temporaries and
    backups that interrupted writers left beside ``path`` (under its lock)."""
    path = Path(path)
    if needs_recovery(path) and os.access(path.parent, os.W_OK):  # read-only: nothing to fix
        with locked(path):
            _recover(path)


# ----------------------------------------------------------------------------- staging
@dataclass
class _Output:
    """One destination and its temporary."""

    target: Path
    temporary: Path
    directory: bool
    replaceable: Callable[[Path], bool] | None = None
    what: str = "folder"


def _prepare_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFileError(f"cannot write {path}: {error.strerror}") from None


def _check_replaceable(output: _Output) -> None:
    target = output.target
    if output.directory:
        if target.exists() and not target.is_dir():
            raise OutputFileError(f"cannot write the {output.what} {target}: it is a file")
        if (target.is_dir() and any(target.iterdir()) and output.replaceable is not None
                and not output.replaceable(target)):
            raise OutputFileError(
                f"refusing to replace {target}: it is not empty and not a clvmodels "
                f"{output.what}; choose another output folder")
    elif target.is_dir():
        raise OutputFileError(f"cannot write {target}: it is a directory")


class Staging:
    """Outputs staged beside their destinations and committed together.

    Use :func:`staged` (commits at the end of its block, discards on an exception), then
    :meth:`files` / :meth:`directory` for each output.
    """

    def __init__(self) -> None:
        self._groups: list[list[_Output]] = []

    @contextmanager
    def _staged_group(self, group: list[_Output]) -> Iterator[list[Path]]:
        """Yield the temporaries of ``group``; an error in the block removes them (an OSError
        becomes an OutputFileError naming the group's destinations)."""
        self._groups.append(group)
        try:
            yield [output.temporary for output in group]
        except BaseException as error:
            self._groups.remove(group)
            for output in group:
                _remove(output.temporary)
            if isinstance(error, OSError) and not isinstance(error, OutputFileError):
                raise _output_error([output.target for output in group], error) from error
            raise

    @contextmanager
    def files(self, *paths: str | os.PathLike) -> Iterator[list[Path]]:
        """Yield a temporary path beside each of ``paths``, replacing them at the commit; an
        error in the block removes them (an OSError names ``paths``)."""
        targets = [Path(path) for path in paths]
        group: list[_Output] = []
        try:
            for target in targets:
                _prepare_parent(target)
                output = _Output(target, target, directory=False)
                _check_replaceable(output)
                with locked(target):
                    _recover(target)
                    handle, name = tempfile.mkstemp(dir=target.parent,
                                                    prefix=_temporary_prefix(target),
                                                    suffix=".tmp")
                os.close(handle)
                output.temporary = Path(name)
                group.append(output)
        except BaseException as error:
            for output in group:
                _remove(output.temporary)
            if isinstance(error, OSError) and not isinstance(error, OutputFileError):
                raise _output_error(targets, error) from None
            raise
        with self._staged_group(group) as temporaries:
            yield temporaries

    @contextmanager
    def directory(self, path: str | os.PathLike, replaceable: Callable[[Path], bool],
                  what: str = "folder") -> Iterator[Path]:
        """Yield a temporary folder beside ``path``, which takes its place at the commit.

        An existing ``path`` is replaced only if it is empty or ``replaceable(path)`` says it
        is one of ours (e.g. a model directory), never an unrelated folder; ``what`` names the
        folder in messages.
        """
        target = Path(path)
        _prepare_parent(target)
        output = _Output(target, target, directory=True, replaceable=replaceable, what=what)
        try:
            with locked(target):
                _recover(target)
                _check_replaceable(output)
                output.temporary = Path(tempfile.mkdtemp(
                    dir=target.parent, prefix=_temporary_prefix(target), suffix=".tmp"))
        except OSError as error:
            if isinstance(error, OutputFileError):
                raise
            raise _output_error([target], error) from None
        with self._staged_group([output]) as (temporary,):
            yield temporary

    def discard(self) -> None:
        """Remove every temporary; the destinations stay as they are."""
        for group in self._groups:
            for output in group:
                _remove(output.temporary)
        self._groups = []

    def commit(self) -> None:
        """Replace every destination by its temporary, all or none (see the module)."""
        outputs = [output for group in self._groups for output in group]
        group_of = {id(output): group for group in self._groups for output in group}
        replaced: list[tuple[_Output, Path | None]] = []  # output, its previous content
        current, committed = None, False
        try:
            with _locked_all([output.target for output in outputs]), _interrupts_held():
                for output in outputs:
                    _recover(output.target)
                    _check_replaceable(output)
                for output in outputs:
                    current = output
                    os.chmod(output.temporary,
                             _umask_mode(0o777 if output.directory else 0o666))
                    replaced.append((output, _replace(output, several=len(outputs) > 1)))
                committed = True  # an interrupt held back until now finds every output new
                for _, backup in replaced:
                    if backup is not None:
                        _remove(backup)
        except BaseException as error:
            if not committed:
                _roll_back(replaced)
            self.discard()
            if (current is not None and isinstance(error, OSError)
                    and not isinstance(error, OutputFileError)):
                targets = [output.target for output in group_of[id(current)]]
                raise _output_error(targets, error) from error
            raise
        self._groups = []


def _replace(output: _Output, *, several: bool) -> Path | None:
    """Move ``output``'s temporary into place; return where the previous content is kept
    (None if there was none, or a lone file replaced in one rename)."""
    target, backup = output.target, None
    if output.directory:
        if target.exists():
            backup = _backup_name(target)
            os.rename(target, backup)
            try:
                os.rename(output.temporary, target)
            except BaseException:
                os.rename(backup, target)
                raise
        else:
            os.rename(output.temporary, target)
        return backup
    if several and target.exists():
        backup = _backup_name(target)
        try:
            os.link(target, backup)  # a second name for the old content: no copy
        except OSError:  # a file system without hard links
            shutil.copy2(target, backup)
    try:
        os.replace(output.temporary, target)
    except BaseException:
        if backup is not None:
            _remove(backup)
        raise
    return backup


def _roll_back(replaced: list[tuple[_Output, Path | None]]) -> None:
    """Give the destinations already replaced their previous content back."""
    for output, backup in reversed(replaced):
        with suppress(OSError):
            if backup is None:
                _remove(output.target)
            elif output.directory:
                new = _backup_name(output.target)
                os.rename(output.target, new)
                os.rename(backup, output.target)
                _remove(new)
            else:
                os.replace(backup, output.target)


@contextmanager
def staged() -> Iterator[Staging]:
    """A :class:`Staging` committed when the block ends; an exception discards it."""
    staging = Staging()
    try:
        yield staging
    except BaseException:
        staging.discard()
        raise
    staging.commit()


# ----------------------------------------------------------------------------- one output
@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` keeps its previous content.
    """
    with staged() as staging, staging.files(path) as (temporary,):
        yield temporary


@contextmanager
def atomic_files(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield a temporary path beside each of ``paths``; on success they replace ``paths``
    together (see :meth:`Staging.commit`)."""
    with staged() as staging, staging.files(*paths) as temporaries:
        yield temporaries


@contextmanager
def atomic_directory(path: str | os.PathLike, replaceable: Callable[[Path], bool],
                     what: str = "folder") -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it takes the place of ``path``
    (see :meth:`Staging.directory`)."""
    with staged() as staging, staging.directory(path, replaceable, what) as temporary:
        yield temporary


def write_text(path: str | os.PathLike, text: str, staging: Staging | None = None) -> None:
    """Write a text file atomically (staged in ``staging`` when given, else at once)."""
    with staged() if staging is None else nullcontext(staging) as staging, \
            staging.files(path) as (temporary,):
        temporary.write_text(text, encoding="utf-8")


__all__ = ["LOCK_TIMEOUT", "Staging", "atomic_directory", "atomic_file", "atomic_files",
           "locked", "needs_recovery", "recover", "staged", "write_text"]

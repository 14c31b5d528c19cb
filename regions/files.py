"""Write output files whole or not at all: a temp file in the same directory, fsync, rename.

Every package writes its outputs (plans, journals, bench JSON, manifests) through these, so a
reader or a crash never leaves half a file. It lives in `regions` only because that is the one
package every other may import.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from regions.errors import InputError, Problem


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, value: Any, **dumps_kwargs: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, **dumps_kwargs) + "\n")


def unwritable(folder: str | Path) -> str | None:
    """Why no file can be created in the existing directory `folder`, or None when one can.

    A temporary file is really created and removed, the way the atomic writers above write:
    permission bits say nothing for root or on a read-only or pseudo file system."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".meridian-", suffix=".probe")
    except OSError as err:
        return err.strerror or str(err)
    os.close(fd)
    os.unlink(probe)
    return None


def check_output_file(path: str, flag: str) -> None:
    """Refuse an output file path (InputError naming `flag`) that could not be written, before
    the work that produces it runs: empty, a directory, in a missing or unwritable directory
    (for writers that do not create directories)."""
    problem = (Problem(flag, "the file name is empty", f"give a file name after {flag}") if not path.strip()
               else output_problem(flag, path, want_dir=False, make_dirs=False))
    if problem is not None:
        raise InputError(f"{flag} {path!r}: {problem.message}", [problem])


def output_problem(flag: str, value: str | None, want_dir: bool, make_dirs: bool = True) -> Problem | None:
    """Why the output file (or directory, `want_dir`) `value` of `flag` could not be written,
    as a Problem, or None. With `make_dirs` (the writer creates them) missing directories are
    fine and the nearest one that exists must take a new file; without, the parent must exist.
    The file is tried for real (root ignores permission bits)."""
    if not value:
        return None
    path = Path(value)
    if path.exists() and path.is_dir() != want_dir:
        return Problem(flag, f"{value} exists and is {'not ' if want_dir else ''}a directory",
                       fix="give a directory" if want_dir else "give a file path, not a directory")
    # an existing directory is written into; an existing file is replaced (the atomic writers
    # rename over it), so its directory is what must be writable
    parent = path if path.exists() and want_dir else path.parent
    if not make_dirs and not parent.is_dir():
        return Problem(flag, f"directory {parent} does not exist", fix="create it or pick another path")
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return Problem(flag, f"cannot write under {parent}: it is not a directory", fix="choose a writable location")
    why = unwritable(parent)
    if why is not None:
        return Problem(flag, f"cannot write under {parent}: not writable ({why})", fix="choose a writable location")
    return None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current

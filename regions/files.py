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


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current

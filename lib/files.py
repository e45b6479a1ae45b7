"""Files written whole or not at all, JSON, and sha256 digests."""

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path


def sha256(path):
    """Hex sha256 of the file at `path`."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@contextlib.contextmanager
def atomic_file(path, mode="w"):
    """A file that replaces `path` only if the `with` block completes.

    It is written beside `path` under a temporary name, flushed to disk and
    renamed over `path`, so a crash or a full disk during the write leaves any
    previous file intact and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path, payload):
    """Write `payload` as JSON to `path` atomically (see `atomic_file`)."""
    with atomic_file(path) as file:
        json.dump(payload, file, indent=1, sort_keys=True, allow_nan=True)

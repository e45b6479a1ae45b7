"""Files written whole or not at all, JSON, and sha256 digests."""

import contextlib
import hashlib
import json
import os
import secrets
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
    previous file intact and no partial file behind. The file gets the mode
    that `open` would give it (0666 less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # Not mkstemp: its files are 0600, which a web server or another user cannot read.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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

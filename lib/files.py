"""Files written whole or not at all, JSON, sha256 digests, and lock files."""

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import socket
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


@contextlib.contextmanager
def exclusive(path, waiting=None):
    """Hold an exclusive advisory lock (`flock`) on the file `path` for the `with` block.

    While held, the file names its holder ({"pid", "host"}); a clean release
    empties it. The kernel releases the lock when its holder dies, even by
    SIGKILL, so a dead holder never blocks, but its name stays in the file.

    Args:
        path: the lock file (created, with its folder).
        waiting: called with the holder's name (or None) when another
            process holds the lock, before waiting for it.

    Yields:
        The name a holder that died left in the file, or None.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                waiting(_holder(descriptor))
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            left = _holder(descriptor)
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
            yield left
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the lock


def _holder(descriptor):
    text = os.pread(descriptor, 4096, 0).decode(errors="replace")
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None

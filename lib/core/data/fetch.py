"""Downloads a data loader keeps only once their checksum matches.

`fetch` downloads a URL beside its destination under a temporary name,
checks its sha256 (or git blob id, when that is the only published
checksum) and only then renames it into place, so a failed or wrong download
leaves no file behind. Any failure ends in one `DownloadFailed`, a
`FileNotFoundError` whose message names the file, the URL, the checksum and
DATA_DIR.
"""

import hashlib
import os
import secrets
import shutil
import urllib.request
from pathlib import Path

from lib.files import sha256 as file_sha256

TIMEOUT_S = 60  # seconds a connection or a read may stall (not the whole download)


class _WrongChecksum(Exception):
    """The downloaded bytes are not the published file."""


class DownloadFailed(FileNotFoundError):
    """A missing data file could not be downloaded; `reason` says why in a few words."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


def git_blob_id(path):
    """Git's blob id of the file at `path`: sha1 of b"blob <size>\\0" followed by its bytes."""
    header = b"blob %d\0" % Path(path).stat().st_size
    with open(path, "rb") as file:
        return hashlib.file_digest(file, lambda: hashlib.sha1(header)).hexdigest()


def fetch(url, path, what, *, sha256=None, git_blob=None, needed=None, holding, timeout=TIMEOUT_S):
    """Download `url` to `path` and keep it only if its checksum matches.

    A file already at `path` with the right checksum is kept as it is.

    Args:
        url: where the file is published.
        path: where it goes; its folder is created.
        what: the missing file as messages name it, e.g. "DBpedia file train_medium.csv".
        sha256: the expected hex sha256; give this or `git_blob`.
        git_blob: the expected git blob id (see `git_blob_id`).
        needed: the path that was missing, when it is not `path` itself
            (a file inside a downloaded archive). Defaults to `path`.
        holding: what a DATA_DIR directory must hold instead, e.g. "dbpedia-medium/".
        timeout: seconds a connection or a read may stall. Defaults to `TIMEOUT_S`.

    Returns:
        `path`, holding the verified file.

    Raises:
        DownloadFailed: (a `FileNotFoundError`) the download failed or its
            checksum did not match; nothing was left at `path`.
    """
    if (sha256 is None) == (git_blob is None):
        raise TypeError("fetch() needs exactly one of `sha256` and `git_blob`.")
    kind, expected, digest = ("sha256", sha256, file_sha256) if sha256 else ("git blob id", git_blob, git_blob_id)
    path = Path(path)
    if path.is_file() and digest(path) == expected:
        return path
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout) as response, open(temporary, "wb") as file:
            shutil.copyfileobj(response, file, 1 << 20)
        found = digest(temporary)
        if found != expected:
            raise _WrongChecksum(f"the downloaded file has {kind} {found}; it was deleted")
        os.replace(temporary, path)
    except Exception as error:  # network, HTTP, disk or checksum: all end in the same advice
        temporary.unlink(missing_ok=True)
        reason = str(error) if isinstance(error, _WrongChecksum) else f"{type(error).__name__}: {error}"
        raise DownloadFailed(
            f"{what} not found at {needed or path}, and downloading {url} failed ({reason}). Save that "
            f"file ({kind} {expected}) as {path}, or point DATA_DIR (make DATA_DIR=...) at a directory "
            f"holding {holding}.",
            reason,
        ) from None
    return path


def if_missing(url, path, what, *, sha256, holding):
    """`path`, first downloaded from `url` (see `fetch`) when it is not there, saying so."""
    path = Path(path)
    if not path.is_file():
        print(f"{what} missing at {path}; downloading {url}")
        fetch(url, path, what, sha256=sha256, holding=holding)
    return path

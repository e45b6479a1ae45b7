"""Where the suite reads data and writes results.

Each location has an environment variable so that tests, CI and users can move
it without editing code: `DATA_DIR`, `HISTORY_DIR`, `CHECKPOINT_DIR`,
`FIGURE_DIR`. Relative values are taken from the repository root, so a
notebook running in `notebooks/` and `make` at the top agree. The reference
runs (`reference_dir`) ship with the code and have no variable.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _location(variable, default):
    value = os.environ.get(variable) or default
    path = Path(value).expanduser()
    return path if path.is_absolute() else ROOT / path


def data_dir(override=None):
    """The data directory: `override` if given, else `$DATA_DIR`, else `data/`."""
    if override:
        path = Path(override).expanduser()
        return path if path.is_absolute() else ROOT / path
    return _location("DATA_DIR", "data")


def history_dir():
    """JSON training histories: `$HISTORY_DIR`, else `histories/`."""
    return _location("HISTORY_DIR", "histories")


def checkpoint_dir():
    """Weights and resume state (git-ignored): `$CHECKPOINT_DIR`, else `checkpoints/`."""
    return _location("CHECKPOINT_DIR", "checkpoints")


def figure_dir():
    """PNG figures: `$FIGURE_DIR`, else `figures/`."""
    return _location("FIGURE_DIR", "figures")


def reference_dir():
    """The reference runs committed with the code (lib/core/reference.py): `histories/reference/` of the repository."""
    return ROOT / "histories" / "reference"

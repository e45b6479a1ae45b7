"""Resume state and run locks, so that killed or concurrent runs lose nothing.

A resume state is one `.npz` file, written atomically: every model variable
(weights and the dropout layers' random-seed state), every optimizer variable
(step count, momenta) and the history so far. A run lock is an advisory
`flock` on a file beside the checkpoints: the kernel releases it when its
process dies, even by SIGKILL, so a dead holder never blocks a run.
"""

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lib import files, machine
from lib.core.backend import keras


def save_state(path, model, record):
    """Write the model's and optimizer's variables and `record` (a dict) to `path` atomically.

    Raises:
        OSError: the file could not be written (a full disk, a size limit);
            the same error, its message naming `path`.
    """
    arrays = {f"model_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.variables)}
    arrays |= {f"optimizer_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.optimizer.variables)}
    try:
        with files.atomic_file(path, "wb") as file:
            np.savez(file, record=np.array(json.dumps(record)), **arrays)
    except OSError as error:  # the write goes to a temporary file: the error names no file, or not this one
        message = f"Could not write the resume state {path}: {error.strerror or error}"
        raise (OSError(error.errno, message) if error.errno else OSError(message)) from error


def load_state(path, model):
    """Restore the variables saved by `save_state` into a compiled `model`.

    Returns:
        The saved record, or None if there is no state. A state that cannot
        be read or does not fit the model is reported, moved aside and
        ignored, so the run starts over rather than resuming from it.
    """
    path = Path(path)
    if not path.is_file():
        return None
    model.optimizer.build(model.trainable_variables)
    try:
        with np.load(path) as saved:
            record = json.loads(str(saved["record"]))
            model_values = [saved[f"model_{i}"] for i in range(len(model.variables))]
            optimizer_values = [saved[f"optimizer_{i}"] for i in range(len(model.optimizer.variables))]
        for variable, value in zip(model.variables + model.optimizer.variables, model_values + optimizer_values):
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"variable {variable.path} has shape {tuple(variable.shape)}, saved {value.shape}")
    except Exception as error:  # a torn or foreign file: never resume from it
        aside = path.with_name(f"{path.name}.broken-{int(time.time())}")
        os.replace(path, aside)
        print(f"warning: resume state {path} is unusable ({error}); moved it to {aside} and starting over.", file=sys.stderr)
        return None
    for variable, value in zip(model.variables + model.optimizer.variables, model_values + optimizer_values):
        variable.assign(value)
    return record


@contextlib.contextmanager
def run_lock(path, name, progress=True):
    """Hold an exclusive lock on `path` while training run `name` (`files.exclusive`).

    A second process asking for the same run waits until the first is done
    (and then finds its history). A lock file left by a process that died is
    taken over, and the takeover is reported.
    """
    def waiting(holder):
        if progress:
            print(f"[{name}] another process is training this run ({holder}); waiting for it", flush=True)

    with files.exclusive(path, waiting) as left:
        if left and not machine.process_alive(left.get("pid"), left.get("host")):
            print(f"[{name}] taking over the lock of process {left['pid']}, which died without releasing it", file=sys.stderr)
        yield

"""Shared code for the study notebooks: data, models, runs, histories, plots."""

import os


def _import_keras_quietly():
    # TensorFlow's C++ start-up chatter (oneDNN notice, CUDA probing, absl
    # pre-init lines) goes to file descriptor 2 before any log level applies
    # and would open every report. Errors still raise as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401  (imports the backend)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_keras_quietly()

"""Keras, imported once without TensorFlow's start-up chatter, and what the backend runs on.

Modules of lib/core that use Keras import it from here (`from
lib.core.backend import keras`), so that whichever comes first silences the
chatter. Import lib.core modules before importing keras, tensorflow or
keras_tuner yourself: TensorFlow's C++ start-up lines ignore every log
setting and show unless its first import goes through here. Also here: the
device a run computes on, its CPU threads, and the switches that make
training deterministic.
"""

import logging
import os

from lib import checks, machine


def _import_keras_quietly():
    # TensorFlow's C++ start-up chatter (oneDNN notice, CUDA probing, absl
    # pre-init lines) goes to file descriptor 2 before any log level applies
    # and would open every report. Errors still raise as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    # Python-side warnings that follow: TensorFlow's logger warns of
    # tf.function "retracing" whenever a notebook builds a fresh model per run
    # (every grid and search does, by design), and Keras logs through absl.
    # Errors still show.
    from absl import logging as absl_logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    absl_logging.set_verbosity(absl_logging.ERROR)
    return keras


keras = _import_keras_quietly()


def device_description():
    """'GPU: <name>' when the Keras backend sees a GPU, else 'CPU: <model> (N cores)'."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "GPU: " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            return f"GPU: {device.device_kind}"
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)}"
    return machine.cpu_description()


def has_gpu():
    return device_description().startswith("GPU")


def make_deterministic():
    """Same inputs, same results, run after run (TensorFlow's, PyTorch's and XLA's GPU kernels may otherwise race)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    elif backend == "jax" and "--xla_gpu_deterministic_ops" not in os.environ.get("XLA_FLAGS", ""):
        # XLA reads its flags when JAX's first computation starts the backend.
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_gpu_deterministic_ops=true".strip()


def set_threads(threads):
    """Compute with `threads` CPU threads (TensorFlow, PyTorch); call before the first operation.

    JAX sizes its thread pool from `XLA_FLAGS` when it starts, so this leaves
    it as it is.

    Args:
        threads: a positive integer.
    """
    checks.positive_int("threads", threads)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)


def threads():
    """CPU threads one run computes with; float results can differ in the last digits between thread counts, never within one."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    if keras.backend.backend() == "torch":
        import torch

        return torch.get_num_threads()
    return os.cpu_count()

"""Adversarial examples: fast gradient sign (untargeted) and iterative targeted attacks.

Everything is `keras.ops` except the gradient of the loss with respect to the
input, for which Keras has no API: `input_gradient` hands it to a small
private function per backend (`tf.GradientTape`, `jax.grad`, torch autograd).
Images are in [0, 1]; every attack keeps its output within `epsilon` of the
original in the L-infinity norm and within [0, 1].
"""

import functools

import numpy as np

from lib.core.backend import keras

ops = keras.ops

BATCH_SIZE = 500  # examples per gradient computation, to bound memory


def _summed_loss(model, images, labels):
    probabilities = model(images, training=False)
    return ops.sum(keras.losses.sparse_categorical_crossentropy(labels, probabilities))


def _gradient_tensorflow(model):
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def gradient(images, labels):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = _summed_loss(model, images, labels)
        return tape.gradient(loss, images)

    return gradient


def _gradient_jax(model):
    import jax

    return jax.jit(jax.grad(lambda images, labels: _summed_loss(model, images, labels)))


def _gradient_torch(model):
    def gradient(images, labels):
        images = images.detach().clone().requires_grad_(True)
        _summed_loss(model, images, labels).backward()
        return images.grad

    return gradient


# A function per backend that makes `model`'s input gradient: compiled (a
# graph under TensorFlow, XLA under JAX), traced once per model and batch
# shape. Under TensorFlow on a 2-core CPU, D4's gradients are 3x faster
# than eager ones, and equal to them (bench/attacks.py).
_GRADIENTS = {"tensorflow": _gradient_tensorflow, "jax": _gradient_jax, "torch": _gradient_torch}


def _batches(images, labels):
    """(images, labels) tensors of at most `BATCH_SIZE` examples."""
    for start in range(0, len(images), BATCH_SIZE):
        yield (ops.convert_to_tensor(np.asarray(images[start : start + BATCH_SIZE], dtype=np.float32)),
               ops.convert_to_tensor(np.asarray(labels[start : start + BATCH_SIZE], dtype=np.int32)))


@functools.lru_cache(maxsize=4)  # a notebook attacks one model or a few
def _compiled_gradient(model):
    backend = keras.backend.backend()
    if backend not in _GRADIENTS:
        raise ValueError(f"Unsupported Keras backend: {backend!r}. Expected one of {tuple(_GRADIENTS)}.")
    return _GRADIENTS[backend](model)


def _gradient(model, images, labels):
    return _compiled_gradient(model)(images, labels)


def input_gradient(model, images, labels):
    """Gradient of the cross-entropy of `labels` with respect to `images`.

    The loss is summed over the batch, so each example's gradient is its own
    loss's gradient, whatever the batch size.

    Args:
        model: a `keras.Model` that outputs class probabilities.
        images: float array of inputs.
        labels: integer class per example (the true class, or the target).

    Returns:
        float32 numpy array shaped like `images`.
    """
    return np.concatenate([ops.convert_to_numpy(_gradient(model, x, y)) for x, y in _batches(images, labels)])


def _check_epsilon(epsilon):
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 <= epsilon <= 1:
        raise ValueError(f"Invalid value for `epsilon`. Received: epsilon={epsilon!r}. Expected a number in [0, 1].")


def fgsm(model, images, labels, epsilon):
    """Untargeted fast gradient sign attack (Goodfellow et al., 2015).

    One step of size `epsilon` along the sign of the gradient of the true
    class's loss, then clipped to the valid pixel range [0, 1].

    Args:
        model: a `keras.Model` that outputs class probabilities.
        images: float array in [0, 1].
        labels: the true classes.
        epsilon: L-infinity size of the perturbation, in [0, 1].

    Returns:
        The adversarial images (float32 numpy array).
    """
    _check_epsilon(epsilon)
    adversarial = [ops.clip(x + epsilon * ops.sign(_gradient(model, x, y)), 0.0, 1.0) for x, y in _batches(images, labels)]
    return np.concatenate([ops.convert_to_numpy(batch) for batch in adversarial])


def targeted_iterative(model, images, targets, epsilon, steps=10, step_size=None):
    """Targeted iterative gradient sign attack (basic iterative method, Kurakin et al., 2017).

    Each step moves against the gradient of the target class's loss by
    `step_size`, then projects back into the L-infinity ball of radius
    `epsilon` around the original and into [0, 1].

    Args:
        model: a `keras.Model` that outputs class probabilities.
        images: float array in [0, 1].
        targets: the class each image should be taken for.
        epsilon: L-infinity bound of the perturbation, in [0, 1].
        steps: number of gradient steps. Defaults to 10.
        step_size: size of each step; None (the default) uses 2.5 * epsilon
            / steps, so the walk can reach the boundary and move along it.

    Returns:
        The adversarial images (float32 numpy array).
    """
    _check_epsilon(epsilon)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"Invalid value for `steps`. Received: steps={steps!r}. Expected a positive integer.")
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    parts = []
    for original, target in _batches(images, targets):
        low, high = ops.maximum(original - epsilon, 0.0), ops.minimum(original + epsilon, 1.0)
        adversarial = original
        for _ in range(steps):
            adversarial = adversarial - step_size * ops.sign(_gradient(model, adversarial, target))
            adversarial = ops.minimum(ops.maximum(adversarial, low), high)
        parts.append(ops.convert_to_numpy(adversarial))
    return np.concatenate(parts)


def probabilities(model, images):
    """The model's class probabilities for `images` (numpy, inference mode)."""
    return ops.convert_to_numpy(model.predict(np.asarray(images, dtype=np.float32), batch_size=BATCH_SIZE, verbose=0))


def success_rates(model, images, labels, targets, epsilons, steps=10):
    """Success of both attacks against the perturbation size.

    Untargeted success: the prediction is no longer the true class.
    Targeted success: the prediction is the target class. Pass images the
    model classifies correctly, so that epsilon 0 gives 0 for both.

    Args:
        model: a `keras.Model` that outputs class probabilities.
        images: float array in [0, 1].
        labels: the true classes.
        targets: the target class of each image (differing from its label).
        epsilons: perturbation sizes to try.
        steps: steps of the targeted attack. Defaults to 10.

    Returns:
        pandas DataFrame indexed by epsilon with columns "untargeted FGSM" and
        "targeted iterative" (fractions in [0, 1]).
    """
    import pandas as pd

    labels, targets = np.asarray(labels), np.asarray(targets)
    if np.any(labels == targets):
        raise ValueError("Every target must differ from its image's true class; "
                         f"{int(np.sum(labels == targets))} of {len(labels)} targets equal the label.")
    rows = {}
    for epsilon in epsilons:
        untargeted = probabilities(model, fgsm(model, images, labels, epsilon)).argmax(axis=1)
        targeted = probabilities(model, targeted_iterative(model, images, targets, epsilon, steps)).argmax(axis=1)
        rows[epsilon] = {"untargeted FGSM": float(np.mean(untargeted != labels)),
                         "targeted iterative": float(np.mean(targeted == targets))}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "epsilon"
    return frame

"""Adversarial attacks on a tiny softmax model whose loss is convex in the input."""

import keras
import numpy as np
import pytest

from lib.core import attacks


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (12, 4, 4, 1)).astype(np.float32)
    images[:, 0, 0, 0] = [0.0, 1.0] * 6  # pixels on the edges of the valid range
    labels = attacks.probabilities(model, images).argmax(axis=1)  # the model is right on every image
    return model, images, labels


def _true_class_loss(model, images, labels):
    probabilities = attacks.probabilities(model, images)
    return -np.log(probabilities[np.arange(len(labels)), labels])


def test_input_gradient_matches_finite_differences(tiny):
    model, images, labels = tiny
    gradient = attacks.input_gradient(model, images[:1], labels[:1])
    step = 1e-2
    for pixel in [(0, 1, 2, 0), (0, 3, 0, 0)]:
        up, down = images[:1].copy(), images[:1].copy()
        up[pixel] += step
        down[pixel] -= step
        numeric = (_true_class_loss(model, up, labels[:1]) - _true_class_loss(model, down, labels[:1]))[0] / (2 * step)
        assert gradient[pixel] == pytest.approx(numeric, rel=1e-2, abs=1e-4)


def test_fgsm_raises_the_true_class_loss_within_epsilon_and_the_pixel_range(tiny):
    model, images, labels = tiny
    adversarial = attacks.fgsm(model, images, labels, epsilon=0.05)
    assert np.all(_true_class_loss(model, adversarial, labels) > _true_class_loss(model, images, labels))
    assert np.max(np.abs(adversarial - images)) <= 0.05 + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.max(np.abs(adversarial - images)) == pytest.approx(0.05, abs=1e-6)  # it does move by epsilon


def test_targeted_attack_raises_the_target_probability_within_epsilon(tiny):
    model, images, labels = tiny
    targets = (labels + 1) % 3
    before = attacks.probabilities(model, images)[np.arange(len(targets)), targets]
    adversarial = attacks.targeted_iterative(model, images, targets, epsilon=0.1, steps=5)
    after = attacks.probabilities(model, adversarial)[np.arange(len(targets)), targets]
    assert np.all(after > before)
    assert np.max(np.abs(adversarial - images)) <= 0.1 + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0


def test_success_rates_start_at_zero_and_grow(tiny):
    model, images, labels = tiny
    rates = attacks.success_rates(model, images, labels, (labels + 1) % 3, [0.0, 1.0], steps=3)
    assert rates.loc[0.0].tolist() == [0.0, 0.0]  # every image is classified correctly
    assert rates.loc[1.0, "untargeted FGSM"] > 0 and rates.loc[1.0, "targeted iterative"] > 0


def test_bad_arguments_are_named(tiny):
    model, images, labels = tiny
    with pytest.raises(ValueError, match=r"Invalid value for `epsilon`. Received: epsilon=1.5. Expected a number in \[0, 1\]."):
        attacks.fgsm(model, images, labels, 1.5)
    with pytest.raises(ValueError, match=r"Invalid value for `steps`. Received: steps=0. Expected a positive integer."):
        attacks.targeted_iterative(model, images, labels, 0.1, steps=0)
    with pytest.raises(ValueError, match=r"Every target must differ from its image's true class; 12 of 12 targets equal the label."):
        attacks.success_rates(model, images, labels, labels, [0.1])

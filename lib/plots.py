"""Figures: learning curves and feature maps, saved as PNG under `figures/`."""

import contextlib
import io

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://", "inline")):
    matplotlib.use("Agg")  # headless runs (make all, tests) have no display
import matplotlib.pyplot as plt
import numpy as np

from lib import paths

_LABELS = {"loss": "cost (cross-entropy)", "accuracy": "accuracy"}


def save(figure, name):
    """Save `figure` as `figures/<name>.png` and return the path."""
    path = paths.figure_dir() / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def learning_curves(history, metric, title, name):
    """Training and test `metric` ("loss" or "accuracy") against epochs in one figure.

    Args:
        history: a history dict (`lib.history`).
        metric: "loss" or "accuracy".
        title: figure title.
        name: file name under `figures/`, without ".png".

    Returns:
        The matplotlib figure (also saved).
    """
    if metric not in _LABELS:
        raise ValueError(f"Unknown metric: {metric!r}. Expected one of {tuple(_LABELS)}.")
    figure, axes = plt.subplots(figsize=(6.4, 4))
    for prefix, label in (("", "training"), ("test_", "test")):
        axes.plot(history["epoch"], history["metrics"][prefix + metric], label=label)
    axes.set(xlabel="epoch", ylabel=_LABELS[metric], title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    save(figure, name)
    return figure


def image(pixels, title, name):
    """Save one RGB image in [0, 1], enlarged without smoothing; return the PNG path.

    The figure is closed, so a notebook shows it where it displays the file.
    """
    figure, axes = plt.subplots(figsize=(2.5, 2.5))
    axes.imshow(np.clip(pixels, 0, 1), interpolation="nearest")
    axes.set_title(title)
    axes.axis("off")
    path = save(figure, name)
    plt.close(figure)
    return path


def feature_maps(activations, name):
    """Each layer's channels as grayscale tiles, one figure per layer (keract).

    Values are scaled to [0, 1] per layer so the tiles share one display range.

    Args:
        activations: dict of layer name -> array (1, H, W, C).
        name: folder under `figures/` for the PNGs, one per layer named
            `<index>_<layer>.png`.

    Returns:
        The list of saved PNG paths, in layer order.
    """
    import keract  # imports TensorFlow, so only when maps are drawn

    scaled = {}
    for layer, values in activations.items():
        if values.ndim != 4 or values.shape[0] != 1:
            raise ValueError(f"Activations of {layer!r} have shape {values.shape}; expected (1, H, W, C).")
        low, high = float(values.min()), float(values.max())
        scaled[layer] = (values - low) / (high - low) if high > low else np.zeros_like(values)
    directory = paths.figure_dir() / name
    with contextlib.redirect_stdout(io.StringIO()):  # keract prints each layer's shape
        keract.display_activations(scaled, cmap="gray", save=True, directory=str(directory), fig_size=(7, 7))
    return [directory / f"{index}_{layer}.png" for index, layer in enumerate(scaled)]

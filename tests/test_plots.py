"""Figures tell the truth: short curves visible, plain tick numbers, shared tile ranges, legends off the data."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lib.core import plots


def _history(values, metric="accuracy"):
    """A complete history with `metric` and its test counterpart."""
    values = list(map(float, values))
    return {"epoch": list(range(len(values))), "status": "complete", "metrics": {metric: values, f"test_{metric}": values}}


@pytest.fixture(autouse=True)
def _close_figures(outputs):
    """Figures go to a temporary folder and are closed after each test."""
    yield
    plt.close("all")


def test_one_epoch_learning_curve_shows_a_marker(outputs):
    figure = plots.learning_curves(_history([0.4]), "accuracy", "one epoch", "one_epoch")
    lines = figure.axes[0].lines
    assert len(lines) == 2
    for line in lines:
        assert line.get_marker() == "o"
        assert len(line.get_xdata()) == 1
    assert (outputs / "figure_dir" / "one_epoch.png").is_file()  # `save` still writes the PNG


def test_one_epoch_curve_paints_its_point(outputs):
    figure = plots.compare_curves({"a": _history([0.4])}, "test_accuracy", "one epoch", "one_epoch_compare")
    axes = figure.axes[0]
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    x, y = axes.transData.transform((1, 0.4))
    row, column = int(round(pixels.shape[0] - y)), int(round(x))
    spot = pixels[row - 1 : row + 2, column - 1 : column + 2]
    assert (spot.min(axis=-1) < 200).all()  # coloured, not the white background


def test_many_epochs_have_no_markers(outputs):
    figure = plots.learning_curves(_history(np.linspace(0.1, 0.9, 30)), "accuracy", "long", "long")
    assert all(line.get_marker() in ("None", None, "") for line in figure.axes[0].lines)


def test_barely_varying_series_has_no_offset_text(outputs):
    figure = plots.learning_curves(_history([0.09, 0.09 + 1e-9, 0.09 - 1e-9]), "accuracy", "flat", "flat")
    figure.canvas.draw()
    axes = figure.axes[0]
    assert axes.yaxis.get_offset_text().get_text() == ""
    low, high = axes.get_ylim()
    assert high - low > 1e-3  # float noise is not stretched over the axis


def test_feature_map_tiles_share_one_range(outputs, monkeypatch):
    figures = []
    save = plots.save
    monkeypatch.setattr(plots, "save", lambda figure, name: figures.append(figure) or save(figure, name))
    values = np.zeros((1, 4, 4, 3))
    values[0, :, :, 0] = 5.0  # a strong channel
    values[0, :, :, 1] = np.linspace(-1, 1, 16).reshape(4, 4)
    # channel 2 stays zero (a dead ReLU channel) and is the last tile
    paths = plots.feature_maps({"C2": values}, "maps")
    assert paths == [outputs / "figure_dir" / "maps" / "0_C2.png"] and paths[0].is_file()
    (figure,) = figures
    images = [image for axes in figure.axes for image in axes.images]
    assert len(images) == 3 and {image.get_clim() for image in images} == {(-1.0, 5.0)}
    assert figure.axes[-1].get_ylim() == pytest.approx((-1.0, 5.0))


def test_filter_grid_colorbar_spans_all_tiles(outputs):
    kernel = np.random.default_rng(0).normal(size=(5, 5, 1, 6))
    kernel[..., -1] = 0.0  # a constant last tile must not set the colorbar
    figure = plots.filter_grid(kernel, "filters", "filters", columns=4)
    images = [image for axes in figure.axes for image in axes.images]
    assert len(images) == 6
    assert {image.get_clim() for image in images} == {(kernel.min(), kernel.max())}
    colorbar_axes = figure.axes[-1]
    assert colorbar_axes.get_ylim() == pytest.approx((kernel.min(), kernel.max()))


def test_feature_maps_reject_a_batch(outputs):
    with pytest.raises(ValueError, match=r"expected \(1, H, W, C\)"):
        plots.feature_maps({"C1": np.zeros((2, 4, 4, 3))}, "maps")


def test_many_curves_put_the_legend_outside_and_rank_the_best_first(outputs):
    groups = {f"{c1}/{c2}": _history([0.1, 0.2 + 0.01 * index]) for index, (c1, c2) in enumerate(
        (c1, c2) for c1 in range(5) for c2 in range(5))}
    figure = plots.compare_curves(groups, "test_accuracy", "25 curves", "many", legend_columns=3)
    axes = figure.axes[0]
    figure.canvas.draw()
    legend = axes.get_legend()
    assert legend.get_window_extent().x0 >= axes.get_window_extent().x1
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels[0] == "4/4 (best)" and len(labels) == 25
    assert axes.lines[0].get_color() == "black"


def test_few_curves_keep_the_legend_inside(outputs):
    groups = {name: _history([0.1, 0.2]) for name in "abc"}
    figure = plots.compare_curves(groups, "test_accuracy", "3 curves", "few")
    figure.canvas.draw()
    legend, axes = figure.axes[0].get_legend().get_window_extent(), figure.axes[0].get_window_extent()
    assert axes.contains((legend.x0 + legend.x1) / 2, (legend.y0 + legend.y1) / 2)


def test_lines_have_markers(outputs):
    frame = pd.DataFrame({"rate": [0.5]}, index=[0.1])
    figure = plots.lines(frame, "one point", "one_point", "epsilon", "rate")
    assert figure.axes[0].lines[0].get_marker() == "o"

"""Figures: learning curves and feature maps, saved as PNG under `figures/`.

Where a curve is of runs of your own whose settings have a reference run
(lib/core/reference.py), the reference's curve is drawn beside it, dotted in
the same colour and labelled "reference run"; a curve of reference runs read
in place of training is labelled so too.
"""

import matplotlib

if not matplotlib.get_backend().lower().startswith(("module://", "inline")):
    matplotlib.use("Agg")  # headless runs (make all, tests) have no display
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator, ScalarFormatter
import numpy as np

from lib import paths
from lib.core import history, reference

_LABELS = {"loss": "cost (cross-entropy)", "accuracy": "accuracy"}
_FEW_POINTS = 20  # up to this many epochs a curve gets markers: a line through one point is invisible
_MANY_CURVES = 8  # beyond this, colours cannot be told apart and an inside legend covers the data


def save(figure, name):
    """Save `figure` as `figures/<name>.png` (plain tick numbers) and return the path."""
    _plain_numbers(figure)
    path = paths.figure_dir() / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _plain_numbers(figure):
    """Tick labels without an offset, and no float noise stretched over a whole axis.

    Where values barely vary, matplotlib labels ticks relative to an offset
    such as `1e-9+9e-2` and autoscales the noise to full height; both read as
    a real change. Such a y-range is widened to ±1% of its value.
    """
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, ScalarFormatter):
                formatter.set_useOffset(False)
        low, high = axes.get_ylim()
        if axes.lines and axes.get_yscale() == "linear" and high - low < 1e-6 * max(abs(low), abs(high)):
            middle = (low + high) / 2
            axes.set_ylim(middle - 0.01 * abs(middle), middle + 0.01 * abs(middle))


def _as_list(histories):
    return [histories] if isinstance(histories, dict) else list(histories)


def _band(axes, histories, metric, label, band=True, **style):
    """The mean curve over seeds, with a ±1 std band when there are several and `band`; their reference run's dotted.

    Curves of reference runs read in place of training say so in `label`: a
    leading "ours" (our run beside the published one) becomes "reference
    run"; other labels, such as "Adam (ours)" (our choice), get ", reference run".
    """
    if all(map(reference.is_reference, histories)):
        label = "reference run" + label[4:] if label.split(",")[0] == "ours" else f"{label}, reference run"
    epochs, mean, std = history.mean_curve(histories, metric)
    if len(epochs) <= _FEW_POINTS:
        style = {"marker": "o", "markersize": 4, **style}
    (line,) = axes.plot(epochs, mean, label=label, **style)
    if band and len(histories) > 1:
        axes.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    shipped = [found for found in map(reference.counterpart, histories) if found]
    if shipped:
        epochs, mean, _ = history.mean_curve(shipped, metric)
        axes.plot(epochs, mean, linestyle=":", linewidth=1.5, color=line.get_color(), label=f"{label}, reference run",
                  marker="x" if len(epochs) <= _FEW_POINTS else None)


def _published(axes, curve, metric, label, color=None, epochs=None):
    """A published curve (lib/studies/curves.Curve) dashed, up to `epochs` when given, labelled as published."""
    values = curve.metrics[metric if metric.startswith("test_") else f"train_{metric}"][:epochs]
    axes.plot(range(1, len(values) + 1), values, linestyle="--", linewidth=1.0, color=color, alpha=0.8, label=label)


def learning_curves(histories, metric, title, name, published=None):
    """Training and test `metric` ("loss" or "accuracy") against epochs in one figure.

    Args:
        histories: one history dict, or a list of them (seeds of one
            configuration): the mean is drawn with a band of ±1 std.
        metric: "loss" or "accuracy".
        title: figure title.
        name: file name under `figures/`, without ".png".
        published: the published run of the same settings
            (`lib.studies.curves.Curve`), drawn dashed beside ours up to
            our last epoch; None draws ours only.

    Returns:
        The matplotlib figure (also saved).
    """
    if metric not in _LABELS:
        raise ValueError(f"Unknown metric: {metric!r}. Expected one of {tuple(_LABELS)}.")
    histories = _as_list(histories)
    figure, axes = plt.subplots(figsize=(6.4, 4))
    for prefix, label in (("", "training"), ("test_", "test")):
        _band(axes, histories, prefix + metric, label if published is None else f"ours, {label}")
    if published is not None:
        longest = max(len(h["epoch"]) for h in histories)
        for prefix, label, color in (("", "training", "C0"), ("test_", "test", "C1")):
            _published(axes, published, prefix + metric, f"published, {label}", color, longest)
    seeds = f" (mean of {len(histories)} seeds, band ±1 std)" if len(histories) > 1 else ""
    axes.set(xlabel="epoch", ylabel=_LABELS[metric], title=title + seeds)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even one
    axes.grid(alpha=0.3)
    axes.legend()
    save(figure, name)
    return figure


def compare_curves(groups, metric, title, name, legend_columns=1, published=None):
    """One curve (mean over seeds, with band) per labelled group of histories.

    Up to 8 groups share the axes with an inside legend. More groups are
    ranked by final value: the best is drawn thick and black with its band,
    the rest thin without bands, and the legend, best first, sits outside on
    the right.

    Args:
        groups: dict label -> history or list of histories.
        metric: a metric name in the histories, e.g. "test_accuracy"; one
            ending in "loss" or "perplexity" ranks lowest first.
        title: figure title.
        name: file name under `figures/`, without ".png".
        legend_columns: columns of the inside legend (up to 8 groups).
            Defaults to 1.
        published: dict label -> the published run of that group
            (`lib.studies.curves.Curve`), drawn dashed in the group's
            colour up to the longest of ours (up to 8 groups).

    Returns:
        The matplotlib figure (also saved).
    """
    figure, axes = plt.subplots(figsize=(7.5, 4.5))
    if len(groups) <= _MANY_CURVES:
        longest = max(len(history.mean_curve(_as_list(h), metric)[0]) for h in groups.values())
        for index, (label, histories) in enumerate(groups.items()):
            _band(axes, _as_list(histories), metric, str(label), linewidth=1.2, color=f"C{index}")
            if published and label in published:
                _published(axes, published[label], metric, f"{label}, published", f"C{index}", longest)
        axes.legend(fontsize="small", ncol=legend_columns, loc="best")
    else:
        _ranked_curves(axes, groups, metric)
    axes.set(xlabel="epoch", ylabel=metric.replace("_", " "), title=title)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even one
    axes.grid(alpha=0.3)
    save(figure, name)
    return figure


def _final(histories, metric):
    """The last finite value of the mean curve (NaN when there is none)."""
    _, mean, _ = history.mean_curve(_as_list(histories), metric)
    finite = mean[np.isfinite(mean)]
    return finite[-1] if len(finite) else np.nan


def _ranked_curves(axes, groups, metric):
    """Many curves ranked best first, the best highlighted, the legend outside the axes."""
    sign = 1 if metric.endswith(("loss", "perplexity")) else -1
    finals = {label: _final(histories, metric) for label, histories in groups.items()}
    ranked = sorted(groups, key=lambda label: (np.isnan(finals[label]), sign * finals[label]))
    # tab20's dark shades first, then its light ones, so neighbours in the ranking differ;
    # past 20 curves the line style changes.
    palette = plt.cm.tab20.colors[0::2] + plt.cm.tab20.colors[1::2]
    best, *rest = ranked
    _band(axes, _as_list(groups[best]), metric, f"{best} (best)", color="black", linewidth=2.4, zorder=3)
    for rank, label in enumerate(rest):
        _band(axes, _as_list(groups[label]), metric, str(label), band=False, linewidth=1.0,
              color=palette[rank % 20], linestyle=("-", "--", ":")[rank // 20 % 3])
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0,
                ncol=-(-len(groups) // 25), title=f"final {metric.replace('_', ' ')}, best first",
                title_fontsize="small")


def small_multiples(groups, metric, title, name, published=None, columns=5):
    """One small panel per labelled group: our mean curve and, dashed, the published one.

    Many curves on one pair of axes cannot be told apart; panels with shared
    axes can, and each sets ours beside the published run of its settings.

    Args:
        groups: dict label -> history or list of histories (seeds).
        metric: a metric name in the histories, e.g. "test_accuracy".
        title: figure title.
        name: file name under `figures/`, without ".png".
        published: dict label -> `lib.studies.curves.Curve`, drawn up to
            the longest of ours.
        columns: panels per row. Defaults to 5.

    Returns:
        The matplotlib figure (also saved).
    """
    rows = -(-len(groups) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(2.3 * columns, 1.9 * rows + 0.6), sharex=True, sharey=True,
                                squeeze=False)
    longest = max(len(history.mean_curve(_as_list(h), metric)[0]) for h in groups.values())
    for axes, (label, histories) in zip(grid.flat, groups.items()):
        _band(axes, _as_list(histories), metric, "ours", color="C0", linewidth=1.2)
        if published and label in published:
            _published(axes, published[label], metric, "published", "C1", longest)
        axes.set_title(str(label), fontsize="small")
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    for axes in list(grid.flat)[len(groups):]:
        axes.set_visible(False)
    handles, labels = grid.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", fontsize="small", ncol=2)
    figure.suptitle(title)
    figure.supxlabel("epoch")
    figure.supylabel(metric.replace("_", " "))
    save(figure, name)
    return figure


def heatmap(frame, title, name, fmt="{:.3f}"):
    """A DataFrame of numbers as an annotated heatmap (rows and columns labelled)."""
    figure, axes = plt.subplots(figsize=(1.1 * len(frame.columns) + 2, 0.8 * len(frame.index) + 1.5))
    image = axes.imshow(frame.to_numpy(dtype=float), cmap="viridis")
    axes.set_xticks(range(len(frame.columns)), [str(c) for c in frame.columns])
    axes.set_yticks(range(len(frame.index)), [str(i) for i in frame.index])
    axes.set(xlabel=frame.columns.name or "", ylabel=frame.index.name or "", title=title)
    middle = np.nanmean(frame.to_numpy(dtype=float))
    for (row, column), value in np.ndenumerate(frame.to_numpy(dtype=float)):
        axes.text(column, row, fmt.format(value), ha="center", va="center", color="black" if value > middle else "white")
    figure.colorbar(image, ax=axes)
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


def _shared_tiles(figure, axes, tiles, cmap="gray"):
    """Draw `tiles` on `axes` in one display range, with a colorbar for that range.

    Autoscaling each tile would stretch weak channels to full contrast, and a
    colorbar taken from one tile would misstate the others. Spare axes stay blank.
    """
    norm = Normalize(min(float(tile.min()) for tile in tiles), max(float(tile.max()) for tile in tiles))
    for axis, tile in zip(axes.flat, tiles):
        axis.imshow(tile, cmap=cmap, norm=norm, interpolation="nearest")
    for axis in axes.flat:
        axis.axis("off")
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes.flat), shrink=0.8)


def feature_maps(activations, name):
    """Each layer's channels as grayscale tiles, one figure per layer.

    The tiles of a layer share one display range (the layer's min to max), so
    a dark tile is a weak channel; the colorbar gives that range.

    Args:
        activations: dict of layer name -> array (1, H, W, C).
        name: folder under `figures/` for the PNGs, one per layer named
            `<index>_<layer>.png`.

    Returns:
        The list of saved PNG paths, in layer order.
    """
    saved = []
    for index, (layer, values) in enumerate(activations.items()):
        if values.ndim != 4 or values.shape[0] != 1:
            raise ValueError(f"Activations of {layer!r} have shape {values.shape}; expected (1, H, W, C).")
        count = values.shape[-1]
        columns = int(np.ceil(np.sqrt(count)))
        rows = -(-count // columns)
        figure, axes = plt.subplots(rows, columns, figsize=(7, 6 * rows / columns + 1), squeeze=False)
        _shared_tiles(figure, axes, [values[0, :, :, channel] for channel in range(count)])
        figure.suptitle(f"{layer}: {count} channels, one shared range")
        saved.append(save(figure, f"{name}/{index}_{layer}"))
        plt.close(figure)  # the notebook shows the PNG; an open figure would show twice
    return saved


def filter_grid(kernel, title, name, columns=8):
    """A convolution's filters as grayscale tiles in one shared range, with a colorbar.

    Args:
        kernel: array (height, width, 1, filters), a Conv2D kernel on one channel.
        title: figure title.
        name: file name under `figures/`, without ".png".
        columns: tiles per row. Defaults to 8.

    Returns:
        The matplotlib figure (also saved).
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != 1:
        raise ValueError(f"Invalid kernel shape {kernel.shape}. Expected (height, width, 1, filters).")
    count = kernel.shape[-1]
    rows = -(-count // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.1 * columns + 1, 1.1 * rows + 0.5), squeeze=False)
    _shared_tiles(figure, axes, [kernel[:, :, 0, index] for index in range(count)])
    for index, axis in zip(range(count), axes.flat):
        axis.set_title(str(index), fontsize=7)
    figure.suptitle(title)
    save(figure, name)
    return figure


def image_grid(rows, titles, title, name):
    """Rows of grayscale images in [0, 1] with a caption under each.

    Args:
        rows: list of arrays (N, H, W) or (N, H, W, 1), one per figure row.
        titles: list of lists of captions, shaped like `rows`.
        title: figure title.
        name: file name under `figures/`, without ".png".
    """
    columns = max(len(row) for row in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(1.8 * columns, 2.1 * len(rows) + 0.4), squeeze=False)
    for axis_row, images, captions in zip(axes, rows, titles):
        for axis, image_, caption in zip(axis_row, images, captions):
            axis.imshow(np.squeeze(image_), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axis.set_title(caption, fontsize=8)
        for axis in axis_row:
            axis.axis("off")
    figure.suptitle(title)
    figure.tight_layout()
    save(figure, name)
    return figure


def lines(frame, title, name, xlabel, ylabel):
    """Each column of a DataFrame against its index, with markers."""
    figure, axes = plt.subplots(figsize=(6.4, 4))
    for column in frame.columns:
        axes.plot(frame.index, frame[column], marker="o", label=str(column))
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axes.grid(alpha=0.3)
    axes.legend()
    save(figure, name)
    return figure


def hyperparameter_effects(table, space, metric, title, name, log=False, cap=None):
    """One panel per hyperparameter: each trial's `metric` against the value it used.

    Dots are trials (a little horizontal jitter, seeded); a bar marks the
    mean per value. Without `cap`, trials whose metric is not finite
    (diverged) are left out and counted in the panel title; with `cap`,
    every value above it (diverged ones too) is drawn at the cap as a
    triangle and counts as the cap in the means.

    Args:
        table: DataFrame with a column per hyperparameter and `metric`
            (`search.CachedRandomSearch.trial_table`).
        space: dict hyperparameter -> allowed values (the x-axis of each panel).
        metric: the column to plot, e.g. "validation_accuracy".
        log: a logarithmic y-axis (for perplexities). Defaults to False.
        cap: the largest value shown (for a perplexity, the vocabulary size:
            a uniform guess), or None. Defaults to None.

    Returns:
        The matplotlib figure (also saved).
    """
    columns = 5
    rows = -(-len(space) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(3.0 * columns, 2.6 * rows), sharey=True, squeeze=False)
    scores = table[metric].astype(float)
    if cap is None:
        shown = table[np.isfinite(scores)]
        scores = scores[np.isfinite(scores)]
    else:
        shown, scores = table, scores.fillna(np.inf).clip(upper=cap)
    capped = (scores == cap).to_numpy()
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(shown))
    for axes, (parameter, values) in zip(grid.flat, space.items()):
        positions = shown[parameter].map({value: index for index, value in enumerate(values)}).to_numpy(dtype=float) + jitter
        axes.scatter(positions[~capped], scores[~capped], s=18, alpha=0.7, color="tab:blue")
        axes.scatter(positions[capped], scores[capped], s=30, alpha=0.7, marker="^", color="tab:red")
        for index, value in enumerate(values):
            chosen = scores[shown[parameter] == value]
            if len(chosen):
                axes.hlines(chosen.mean(), index - 0.3, index + 0.3, color="black", linewidth=2)
        dropped = len(table) - len(shown)
        axes.set_title(parameter + (f" ({dropped} diverged not shown)" if dropped else ""), fontsize="medium")
        axes.set_xticks(range(len(values)), [f"{value:g}" if isinstance(value, float) else str(value) for value in values],
                        fontsize="small", rotation=15)
        axes.set_xlim(-0.5, len(values) - 0.5)
        if log:
            axes.set_yscale("log")
        axes.grid(alpha=0.3)
    for axes in grid.flat[len(space):]:
        axes.axis("off")
    for axes in grid[:, 0]:
        axes.set_ylabel(metric.replace("_", " "))
    note = f"; red triangles: at or above {cap:g}, drawn and averaged as {cap:g}" if capped.any() else ""
    figure.suptitle(title + f" (dots: trials; bars: mean per value{note})")
    figure.tight_layout()
    save(figure, name)
    return figure

"""Study B's runs (DBpedia text classification), defined once for its notebooks Q1-Q6.

Every question builds its configs here, so equal settings give equal configs
and therefore shared cached runs (Q5's table reads Q1-Q4's runs, Q6 compares
with Q3's and Q4's GRUs).
"""

import numpy as np

from lib.core import data, history
from lib.core.data import text
from lib.core.config import RunConfig, profile_settings
from lib.studies import curves, published

# Scale per profile. The CNNs train the published 250 epochs under quick too
# (well under a second per epoch on a 2-core CPU); the RNNs train 100 epochs
# under full, as published. "b_cnn_adam" is the length of our extra Adam
# runs of the CNNs beside the original SGD ones.
_SMOKE = {"train_per_class": 5, "test_per_class": 2}
PROFILES = {
    "smoke": {scale: {"epochs": 2, "seeds": 1, "data_kwargs": _SMOKE} for scale in ("b_cnn", "b_cnn_adam", "b_rnn")},
    "quick": {"b_cnn": {"epochs": 250, "seeds": 1, "data_kwargs": {}}, "b_cnn_adam": {"epochs": 50, "seeds": 1, "data_kwargs": {}},
              "b_rnn": {"epochs": 20, "seeds": 1, "data_kwargs": {}}},
    "full": {"b_cnn": {"epochs": 250, "seeds": 1, "data_kwargs": {}}, "b_cnn_adam": {"epochs": 250, "seeds": 1, "data_kwargs": {}},
             "b_rnn": {"epochs": 100, "seeds": 1, "data_kwargs": {}}},
}
# Hours each notebook needs under the full profile on a 2-core CPU: the
# reference run's wall times (histories/reference/full/b.json.gz; 2026-12-02,
# `make all PROFILE=full JOBS=2`, nothing else running), 34.3 minutes in all.
CPU_HOURS = {
    "b_q1_char_cnn": 0.049,  # SGD and Adam, 250 epochs each, side by side
    "b_q2_word_cnn": 0.062,
    "b_q3_char_rnn": 0.061,  # original and masked padding, 100 epochs each
    "b_q4_word_rnn": 0.047,
    "b_q5_dropout": 0.113,  # the four models with dropout
    "b_q6_rnn_variants": 0.237,  # 8 runs beyond Q3's and Q4's GRUs
}
# Said in the discussion where a published number does not reproduce (reproduction.describe).
LIKELY_REASONS = ("one run per setting on each side (the first epochs of a recurrent net depend strongly on its initial "
                  "weights), our vocabulary from the training texts only (the original's held the test words too), the "
                  "output layer of 14 units (the original's 15), and where the SGD CNNs leave their plateau (the published "
                  "word CNN was still at 0.12 after 100 epochs).")
LR = 0.01
BATCH_SIZE = 128
# The original's optimizers (ORIGINALS.md): SGD for the CNNs, Adam for the RNNs.
OPTIMIZERS = {"cnn": "sgd", "rnn": "adam"}
DROPOUT = 0.5
CLIPVALUE = 2.0

# model name -> (question, label, encoding)
BASE_MODELS = {
    "char_cnn": ("b_q1", "char CNN", "char"),
    "word_cnn": ("b_q2", "word CNN", "word"),
    "char_rnn": ("b_q3", "char GRU", "char"),
    "word_rnn": ("b_q4", "word GRU", "word"),
}
# The published curve of each model and Q5/Q6 variant (lib/studies/curves.py).
CURVES = {
    "char_cnn": "2b/q1_char_cnn", "word_cnn": "2b/q2_word_cnn",
    "char_rnn": "2b/q3_char_rnn_gru", "word_rnn": "2b/q4_word_rnn_gru",
    ("char_cnn", "dropout"): "2b/q5_1_char_cnn_dropout", ("word_cnn", "dropout"): "2b/q5_2_word_cnn_dropout",
    ("char_rnn", "dropout"): "2b/q5_3_char_rnn_gru_dropout", ("word_rnn", "dropout"): "2b/q5_4_word_rnn_gru_dropout",
    ("char_rnn", "simple_rnn"): "2b/q6_a_i_1_char_rnn_vanilla", ("word_rnn", "simple_rnn"): "2b/q6_a_i_2_word_rnn_vanilla",
    ("char_rnn", "lstm"): "2b/q6_a_ii_1_char_rnn_lstm", ("word_rnn", "lstm"): "2b/q6_a_ii_2_word_rnn_lstm",
    ("char_rnn", "gru_2_layers"): "2b/q6_b_1_char_rnn_gru_two_layer", ("word_rnn", "gru_2_layers"): "2b/q6_b_2_word_rnn_gru_two_layer",
    ("char_rnn", "gru_clipvalue_2"): "2b/q6_c_1_char_rnn_gru_gradient_clipping",
    ("word_rnn", "gru_clipvalue_2"): "2b/q6_c_2_word_rnn_gru_gradient_clipping",
}
# Q6's variants of the GRU nets, keyword arguments of `config`.
RNN_VARIANTS = {
    "gru": {},
    "simple_rnn": {"cell": "simple_rnn"},
    "lstm": {"cell": "lstm"},
    "gru_2_layers": {"num_layers": 2},
    "gru_clipvalue_2": {"clipvalue": CLIPVALUE},
}
VARIANT_LABELS = {"gru": "GRU", "simple_rnn": "vanilla RNN", "lstm": "LSTM", "gru_2_layers": "GRU, two layers",
                  "gru_clipvalue_2": "GRU, clipped at value 2"}
# Our extra run beside each original model: (label, keyword arguments of `config`).
OURS = {
    "char_cnn": ("Adam (ours)", {"optimizer": "adam"}),
    "word_cnn": ("Adam (ours)", {"optimizer": "adam"}),
    "char_rnn": ("masked padding (ours)", {"mask_padding": True}),
    "word_rnn": ("masked padding (ours)", {"mask_padding": True}),
}


def _check_model(model):
    if model not in BASE_MODELS:
        raise ValueError(f"Unknown model: {model!r}. Expected one of {tuple(BASE_MODELS)}.")


def data_kwargs(profile, model):
    """The loader arguments of `model` under `profile` (encoding and subset)."""
    _check_model(model)
    scale = "b_cnn" if model.endswith("cnn") else "b_rnn"
    return {"encoding": BASE_MODELS[model][2], **profile_settings(PROFILES, profile, scale)["data_kwargs"]}


def load(session, model):
    """The data `model` trains on in `session` (loaded once per process)."""
    return data.load("dbpedia", data_kwargs(session.profile, model), session.data_dir)


def config(session, model, seed=0, epochs=None, dropout=0.0, cell="gru", num_layers=1, clipvalue=0.0, optimizer=None,
           mask_padding=False):
    """The `RunConfig` of one Study B run: the original's settings unless told otherwise.

    Args:
        session: what `runs.setup` returned (profile and data directory).
        model: "char_cnn", "word_cnn", "char_rnn" or "word_rnn".
        seed: random seed.
        epochs: overrides the profile's epochs.
        dropout: dropout rate before the softmax (and after each recurrent layer).
        cell, num_layers: recurrent cell and depth (RNN models only).
        clipvalue: clip each gradient element to ±clipvalue; 0 does not clip.
        optimizer: None for the original's (`OPTIMIZERS`: SGD for the CNNs,
            Adam for the RNNs), else one of lib.core.config.OPTIMIZERS. An
            Adam CNN trains the "b_cnn_adam" length.
        mask_padding: skip the padding steps (RNN models only); the original did not.
    """
    _check_model(model)
    is_rnn = model.endswith("rnn")
    if not is_rnn and (cell, num_layers, mask_padding) != ("gru", 1, False):
        raise ValueError(f"`cell`, `num_layers` and `mask_padding` apply to RNN models only. Received: model={model!r}, "
                         f"cell={cell!r}, num_layers={num_layers!r}, mask_padding={mask_padding!r}.")
    original = OPTIMIZERS["rnn" if is_rnn else "cnn"]
    optimizer = optimizer or original
    scale = "b_rnn" if is_rnn else "b_cnn" if optimizer == original else "b_cnn_adam"
    settings = profile_settings(PROFILES, session.profile, scale, epochs)
    texts = load(session, model)
    model_kwargs = {"dropout": dropout, "num_classes": len(texts.class_labels)}
    if BASE_MODELS[model][2] == "word":
        model_kwargs["vocabulary_size"] = texts.vocabulary_size
    if is_rnn:
        model_kwargs.update(cell=cell, num_layers=num_layers, mask_padding=mask_padding)
    return RunConfig(
        session=session, study="b", model=model, data="dbpedia", epochs=settings["epochs"], model_kwargs=model_kwargs,
        data_kwargs=data_kwargs(session.profile, model), optimizer=optimizer, lr=LR, clipvalue=clipvalue,
        batch_size=BATCH_SIZE, seed=seed,
    )


def ours_config(session, model, seed=0, epochs=None):
    """(label, config) of our extra run beside the original `model` (`OURS`)."""
    _check_model(model)
    label, kwargs = OURS[model]
    return label, config(session, model, seed, epochs, **kwargs)


def dropout_configs(session, seed=0, epochs=None):
    """Q5: {label: (config without dropout, config with dropout)} for the four models."""
    return {label: (config(session, model, seed, epochs), config(session, model, seed, epochs, dropout=DROPOUT))
            for model, (_, label, _) in BASE_MODELS.items()}


def rnn_variant_configs(session, seed=0, epochs=None):
    """Q6: {(model, variant): config} for the char and word RNNs and every `RNN_VARIANTS` entry."""
    return {(model, variant): config(session, model, seed, epochs, **kwargs)
            for model in ("char_rnn", "word_rnn") for variant, kwargs in RNN_VARIANTS.items()}


def run_table(runs_by_label, published_by_label):
    """Test accuracy and time of labelled runs, with the published accuracy beside ours.

    Args:
        runs_by_label: dict label -> `runs.Run`.
        published_by_label: dict label -> (question, metric) of `published.csv`,
            or None where nothing was published.

    Returns:
        pandas DataFrame indexed by label.
    """
    import pandas as pd

    rows = {}
    for label, run in runs_by_label.items():
        summary = history.summarize(run.history)
        source = published_by_label.get(label)
        rows[label] = {
            "test accuracy (final)": round(summary["test_accuracy_final"], 4),
            "test accuracy (best)": round(summary["test_accuracy_best"], 4),
            "best epoch": summary["best_epoch"],
            "epochs": summary["epochs"],
            "time (s)": round(summary["wall_time_s"], 1),
            "s per epoch": round(summary["wall_time_s"] / summary["epochs"], 2),
            "published accuracy": published.value(*source) if source else np.nan,
            "status": run.history["status"],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def describe(data, count=2):
    """Shapes, classes and the first `count` training texts as the model sees them (decoded ids)."""
    lines = [f"train {data.x_train.shape}, test {data.x_test.shape}, {len(data.class_labels)} classes, "
             f"vocabulary {data.vocabulary_size} ids; files: " + ", ".join(f"{name} ({info['copy']})" for name, info in data.files.items()),
             "classes (CSV label -> class id): " + ", ".join(f"{label}:{name}->{i}" for i, (label, name) in enumerate(zip(data.class_labels, data.class_names)))]
    for index in range(count):
        lines.append(f"[{data.class_names[data.y_train[index]]}] {text.decode(data.x_train[index], data.vocabulary)!r}")
    return "\n".join(lines)


def discussion(label, run, curve_name, extra=None):
    """One paragraph on a Q1-Q4 run beside its published curve; every number comes from a history.

    Args:
        label: e.g. "word CNN".
        run: our run with the original's settings.
        curve_name: its published curve (`CURVES`).
        extra: (label, run) of our extra run (`ours_config`), or None.

    Returns:
        Markdown text.
    """
    h = run.history
    summary = history.summarize(h)
    theirs = curves.curve(curve_name)
    epochs = summary["epochs"]
    at = min(epochs, theirs.epochs)
    loss = h["metrics"]["test_loss"]
    lowest = int(np.argmin(loss))
    text = (
        f"After {epochs} epochs with the original's settings the {label} reaches a test accuracy of "
        f"{summary['test_accuracy_final']:.4f}; the published run had {theirs.metrics['test_accuracy'][at - 1]:.4f} at epoch {at}"
        + (f" and ended at {theirs.metrics['test_accuracy'][-1]:.4f} after {theirs.epochs}" if epochs < theirs.epochs else "")
        + f". Our best, {summary['test_accuracy_best']:.4f}, came at epoch {summary['best_epoch']}. The test cross-entropy "
        f"was lowest at epoch {lowest + 1} ({loss[lowest]:.3f}) and ended at {loss[-1]:.3f}"
        + (" (it overfits from there)." if loss[-1] > 1.02 * loss[lowest] else ".")
        + f" Training took {summary['wall_time_s']:.0f} s ({summary['wall_time_s'] / epochs:.2f} s per epoch on "
        f"{h['provenance']['device']}); the published run took {theirs.wall_time_s:.0f} s for {theirs.epochs} epochs on a hosted GPU."
    )
    if extra:
        extra_label, extra_run = extra
        other = extra_run.history["metrics"]["test_accuracy"]
        shared = min(len(other), epochs)
        text += (f"\n\nOur extra run, {extra_label}, reaches {other[-1]:.4f} after {len(other)} epochs; at epoch {shared} it is at "
                 f"{other[shared - 1]:.4f} against {h['metrics']['test_accuracy'][shared - 1]:.4f} with the original's settings "
                 f"({other[shared - 1] - h['metrics']['test_accuracy'][shared - 1]:+.4f}).")
    return text


def dropout_discussion(table, profile):
    """Q5: which models dropout helped or hurt, from `run_table`'s rows "<label>" and "<label> + dropout".

    Returns:
        Markdown text.
    """
    lines = []
    for _, label, _ in BASE_MODELS.values():
        without, with_dropout = table.loc[label, "test accuracy (final)"], table.loc[f"{label} + dropout", "test accuracy (final)"]
        change = with_dropout - without
        verdict = "helps" if change > 0.01 else "hurts" if change < -0.01 else "changes little"
        lines.append(f"{label}: {without:.4f} without and {with_dropout:.4f} with dropout ({change:+.4f}): dropout {verdict} "
                     f"(published {table.loc[label, 'published accuracy']:.2f} → {table.loc[f'{label} + dropout', 'published accuracy']:.2f}).")
    fastest = table["time (s)"].idxmin()
    slowest = table["time (s)"].idxmax()
    lines.append(f"The fastest run is the {fastest} ({table.loc[fastest, 's per epoch']:.2f} s per epoch), the slowest the "
                 f"{slowest} ({table.loc[slowest, 's per epoch']:.2f} s per epoch).")
    short = [f"{label} {table.loc[label, 'epochs']} of {curves.curve(CURVES[model]).epochs}" for model, (_, label, _) in BASE_MODELS.items()
             if table.loc[label, "epochs"] < curves.curve(CURVES[model]).epochs]
    if short:
        lines.append(f"({profile} profile: epochs trained against published: {', '.join(short)}; dropout usually pays off late in training.)")
    return "\n\n".join(lines)


def variant_table(trained):
    """Q6: one row per variant, accuracy, time and the published accuracy for the char and word RNNs.

    Args:
        trained: dict (model, variant) -> `runs.Run`, as `rnn_variant_configs` keys.

    Returns:
        pandas DataFrame indexed by variant.
    """
    import pandas as pd

    rows = {}
    for (model, variant), run in trained.items():
        summary = history.summarize(run.history)
        encoding = BASE_MODELS[model][2]
        row = rows.setdefault(variant, {})
        row[f"{encoding} accuracy"] = round(summary["test_accuracy_final"], 4)
        row[f"{encoding} published"] = published.value("b_q6", f"{model}_{variant}_test_accuracy_final")
        row[f"{encoding} time (s)"] = round(summary["wall_time_s"], 1)
        row[f"{encoding} status"] = run.history["status"]
    return pd.DataFrame.from_dict(rows, orient="index")


def variant_discussion(trained, profile):
    """Q6: the best and worst variant per input, and what each change did to the GRU's accuracy.

    Returns:
        Markdown text.
    """
    lines = []
    for model in ("char_rnn", "word_rnn"):
        accuracy = {variant: history.summarize(run.history)["test_accuracy_final"] for (name, variant), run in trained.items() if name == model}
        seconds = {variant: run.history["wall_time_s"] for (name, variant), run in trained.items() if name == model}
        best, worst = max(accuracy, key=accuracy.get), min(accuracy, key=accuracy.get)
        changes = ", ".join(f"{variant} {accuracy[variant] - accuracy['gru']:+.4f} ({seconds[variant] / seconds['gru']:.1f}x the time)"
                            for variant in accuracy if variant != "gru")
        lines.append(f"{BASE_MODELS[model][1]}s: best {best} ({accuracy[best]:.4f}), worst {worst} ({accuracy[worst]:.4f}). "
                     f"Against the plain GRU ({accuracy['gru']:.4f}): {changes}.")
    epochs = min(len(run.history["epoch"]) for run in trained.values())
    published_epochs = curves.curve(CURVES["char_rnn"]).epochs
    if epochs < published_epochs:
        lines.append(f"({profile} profile: {epochs} of the published {published_epochs} epochs, so slow learners are under-rated.)")
    return "\n\n".join(lines)

"""Study B's runs (DBpedia text classification), defined once for its notebooks Q1-Q6.

Every question builds its configs here, so equal settings give equal configs
and therefore shared cached runs (Q5's table reads Q1-Q4's runs, Q6 compares
with Q3's and Q4's GRUs).
"""

import numpy as np

from lib.core import data, history
from lib.core.data import text
from lib.core.config import RunConfig, profile_settings
from lib.studies import published

# Scale per profile: the CNNs (about 1 s per epoch on a 2-core CPU) get more
# quick epochs than the RNNs; full is the course's 250 epochs.
_SMOKE = {"train_per_class": 5, "test_per_class": 2}
PROFILES = {
    "smoke": {"b_cnn": {"epochs": 2, "seeds": 1, "data_kwargs": _SMOKE}, "b_rnn": {"epochs": 2, "seeds": 1, "data_kwargs": _SMOKE}},
    "quick": {"b_cnn": {"epochs": 40, "seeds": 1, "data_kwargs": {}}, "b_rnn": {"epochs": 20, "seeds": 1, "data_kwargs": {}}},
    "full": {"b_cnn": {"epochs": 250, "seeds": 1, "data_kwargs": {}}, "b_rnn": {"epochs": 250, "seeds": 1, "data_kwargs": {}}},
}
# Hours each notebook needs under the full profile on a 2-core CPU: 250
# epochs x the seconds per epoch measured there (under load from other
# jobs): char CNN 1.4, word CNN 2.2, char GRU 8.1, word GRU 6.8, LSTM 5.3,
# vanilla RNN 3.0, two-layer GRU 8.3.
CPU_HOURS = {
    "b_q1_char_cnn": 0.1,
    "b_q2_word_cnn": 0.15,
    "b_q3_char_rnn": 0.56,
    "b_q4_word_rnn": 0.47,
    "b_q5_dropout": 1.3,  # the four models again, with dropout
    "b_q6_rnn_variants": 3.3,  # 8 runs: vanilla RNN, LSTM, 2-layer GRU, clipping, char and word
}
LR = 0.01
BATCH_SIZE = 128
OPTIMIZER = "adam"  # see the notebooks' title cells for why
DROPOUT = 0.5
CLIPNORM = 2.0

# model name -> (question, label, encoding)
BASE_MODELS = {
    "char_cnn": ("b_q1", "char CNN", "char"),
    "word_cnn": ("b_q2", "word CNN", "word"),
    "char_rnn": ("b_q3", "char GRU", "char"),
    "word_rnn": ("b_q4", "word GRU", "word"),
}
# Q6's variants of the GRU nets, keyword arguments of `config`.
RNN_VARIANTS = {
    "gru": {},
    "simple_rnn": {"cell": "simple_rnn"},
    "lstm": {"cell": "lstm"},
    "gru_2_layers": {"num_layers": 2},
    "gru_clipnorm_2": {"clipnorm": CLIPNORM},
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


def config(session, model, seed=0, epochs=None, dropout=0.0, cell="gru", num_layers=1, clipnorm=0.0):
    """The `RunConfig` of one Study B run (Adam, lr 0.01, batch 128).

    Args:
        session: what `runs.setup` returned (profile and data directory).
        model: "char_cnn", "word_cnn", "char_rnn" or "word_rnn".
        seed: random seed.
        epochs: overrides the profile's epochs.
        dropout: dropout rate before the softmax (and after each recurrent layer).
        cell, num_layers: recurrent cell and depth (RNN models only).
        clipnorm: gradient clipping norm; 0 does not clip.
    """
    _check_model(model)
    is_rnn = model.endswith("rnn")
    if not is_rnn and (cell, num_layers) != ("gru", 1):
        raise ValueError(f"`cell` and `num_layers` apply to RNN models only. Received: model={model!r}, cell={cell!r}, num_layers={num_layers!r}.")
    settings = profile_settings(PROFILES, session.profile, "b_rnn" if is_rnn else "b_cnn", epochs)
    texts = load(session, model)
    model_kwargs = {"dropout": dropout, "num_classes": len(texts.class_labels)}
    if BASE_MODELS[model][2] == "word":
        model_kwargs["vocabulary_size"] = texts.vocabulary_size
    if is_rnn:
        model_kwargs.update(cell=cell, num_layers=num_layers)
    return RunConfig(
        session=session, study="b", model=model, data="dbpedia", epochs=settings["epochs"], model_kwargs=model_kwargs,
        data_kwargs=data_kwargs(session.profile, model), optimizer=OPTIMIZER, lr=LR, clipnorm=clipnorm,
        batch_size=BATCH_SIZE, seed=seed,
    )


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


def discussion(label, run, comparison, profile):
    """One paragraph on a Q1-Q4 run; every number comes from its history or `published.csv`.

    Returns:
        Markdown text.
    """
    h = run.history
    summary = history.summarize(h)
    loss = h["metrics"]["test_loss"]
    lowest = int(np.argmin(loss))
    text = (
        f"After {summary['epochs']} epochs the {label} reaches a test accuracy of {summary['test_accuracy_final']:.4f} "
        f"(published: {comparison.loc['test_accuracy_final', 'published']:.2f}); its best, {summary['test_accuracy_best']:.4f}, "
        f"came at epoch {summary['best_epoch']}. The training cross-entropy fell from {h['metrics']['loss'][0]:.3f} to "
        f"{h['metrics']['loss'][-1]:.3f}; the test cross-entropy was lowest at epoch {lowest + 1} ({loss[lowest]:.3f}) "
        f"and ended at {loss[-1]:.3f}"
        + (" (it overfits from there)." if loss[-1] > 1.02 * loss[lowest] else ".")
        + f" Training took {summary['wall_time_s']:.0f} s ({summary['wall_time_s'] / summary['epochs']:.2f} s per epoch "
        f"on {h['provenance']['device']})."
    )
    if profile != "full":
        text += f" ({profile} profile: fewer epochs than the published 250, so the numbers are not directly comparable.)"
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
    if profile != "full":
        lines.append(f"({profile} profile: fewer epochs than the published 250; dropout usually pays off late in training.)")
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
    if profile != "full":
        lines.append(f"({profile} profile: fewer epochs than the published 250, so slow learners are under-rated.)")
    return "\n\n".join(lines)

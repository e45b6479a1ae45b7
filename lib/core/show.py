"""What the notebooks display: Markdown with every value shown as plain text, and readable tables.

`table` (a DataFrame with significant digits and worded labels), `config` (a
run's settings), `search_space` (a KerasTuner search space) and
`model_summary` (a model's layers) replace the raw reprs and box-drawn text
that reports would otherwise show.

A value that comes from outside the code (a parameter, a data file's class
names, a data directory's path, an error message) may hold `<script>`, an
`onerror=` attribute or a Markdown link to `javascript:`. Formatted into
Markdown as it is, it becomes live markup in Jupyter and in the HTML reports.
`markdown` escapes each value before it goes into the template:

    display(show.markdown("Prompt *{prompt}*, temperature {temperature:.1f}", prompt=prompt, temperature=0.8))
"""

import dataclasses
import html
import math
import numbers
import string

import pandas as pd
from IPython.display import HTML, Markdown

# HTML's special characters and those that start Markdown markup (links, emphasis,
# code, math, tables, headings); each is written as a character reference, which
# both Markdown and HTML show as the character itself.
_SPECIAL = frozenset("&<>\"'\\`*_[]$~|#")


def escape(value):
    """`str(value)` with every character that Markdown or HTML would read as markup escaped.

    Put the result in running text, not in a code span or math, which show
    character references as they are written.
    """
    return "".join(f"&#{ord(character)};" if character in _SPECIAL else character for character in str(value))


class _EscapingFormatter(string.Formatter):
    def format_field(self, value, format_spec):
        return escape(super().format_field(value, format_spec))


def markdown(template, **values):
    """IPython Markdown of `template` filled in with `values`, each escaped (see `escape`).

    Args:
        template: Markdown with `str.format` fields, e.g. "after {epochs} epochs: {accuracy:.4f}".
            It is trusted; only the values are escaped, after their format spec is applied.
        **values: the values of the fields.

    Returns:
        `IPython.display.Markdown`, for `display(...)`.
    """
    return Markdown(_EscapingFormatter().format(template, **values))


# Code words as a reader says them: phrases first (longest first), then single words; the rest of a key
# reads as it is, with "_" as a space.
_PHRASES = {"rnn_simple_rnn": "vanilla RNN", "simple_rnn": "vanilla RNN", "rnn_gru": "GRU", "rnn_lstm": "LSTM",
            "2_layers": "two layers", "clipvalue": "clipping at value", "pre_relu": "before ReLU",
            "late_mean": "late mean", "wall_time_s": "wall time (s)", "next_word": "next-word", "macro_f1": "macro F1"}
_WORDS = {"cnn": "CNN", "rnn": "RNN", "gru": "GRU", "lstm": "LSTM", "sgd": "SGD", "adam": "Adam", "rmsprop": "RMSProp"}
# The measures a metric key names; what comes before one is the setting, what follows it the detail.
_MEASURES = ("test_next_word_accuracy", "validation_accuracy", "test_accuracy", "test_loss", "test_perplexity",
             "test_macro_precision", "test_macro_recall", "test_macro_f1", "wall_time_ratio", "wall_time_s", "accuracy", "loss")
# RunConfig's fields whose names are abbreviations.
_FIELDS = {"lr": "learning rate", "clipvalue": "gradient clipping at value (0: none)", "model_kwargs": "model settings",
           "data_kwargs": "data subset"}


def _words(key):
    for phrase, words in sorted(_PHRASES.items(), key=lambda item: -len(item[0])):
        key = key.replace(phrase, words)
    return " ".join(_WORDS.get(word, word) for word in key.split("_") if word)


def metric_label(key):
    """A code key as a reader's label: 'char_rnn_gru_clipvalue_2_test_accuracy_final' -> 'char GRU clipping at value 2: test accuracy (final)'.

    The setting before the measure ends with a colon and the detail after it
    goes in parentheses; a key without a known measure ('conv1_pre_relu_max')
    has its words spelled out ('conv1 before ReLU max'). Text with a space is
    prose already (a published label) and, like a value that is not a
    string, is returned as it is.
    """
    if not isinstance(key, str) or " " in key:
        return key
    for measure in _MEASURES:
        before, found, after = key.partition(measure)
        if found and before[-1:] in ("", "_") and after[:1] in ("", "_"):
            setting, detail = _words(before), _words(after)
            return (f"{setting}: " if setting else "") + _words(measure) + (f" ({detail})" if detail else "")
    return _words(key)


def number(value, digits=4):
    """`value` with `digits` significant digits ('0.5475', '0.07143', '1.487'), integers and large values with thousands separators."""
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if value != value:  # NaN: a value not measured
        return "–"
    if isinstance(value, numbers.Integral) or abs(value) >= 10 ** digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def table(frame, digits=4):
    """A DataFrame as a reader's table: numbers to `digits` significant digits, labels as words, text in full.

    pandas' own display prints six decimals ('0.071429') and cuts long text
    ('other repor…'); a Styler does neither.

    Args:
        frame: a pandas DataFrame (left unchanged).
        digits: significant digits of each number. Defaults to 4.

    Returns:
        A pandas `Styler`, for `display(...)` or as a cell's last expression.
    """
    shown = frame.rename(columns=metric_label, index=metric_label)
    shown.columns.name = metric_label(frame.columns.name)
    shown.index.names = [metric_label(name) for name in frame.index.names]
    styled = shown.style.format(lambda value: number(value, digits), escape="html")
    styled = styled.format_index(escape="html", axis="index").format_index(escape="html", axis="columns")
    # Jupyter right-aligns every cell: right for numbers, but text and row labels read from the left.
    text = [column for column in shown.columns if not pd.api.types.is_numeric_dtype(shown[column])]
    return styled.set_properties(subset=text, **{"text-align": "left"}).set_table_styles(
        [{"selector": "th.row_heading", "props": "text-align: left"}], overwrite=False)


def _html_table(header, rows, caption=None, footer=(), right=()):
    """An HTML table (IPython `HTML`) of `rows`, every cell escaped; text left-aligned, the columns `right` (indices) right."""
    def cells(tag, values):
        return "".join(f'<{tag} style="text-align: {"right" if index in right else "left"}">{html.escape(str(value))}</{tag}>'
                       for index, value in enumerate(values))

    head = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    foot = "".join(f"<tr>{cells('th', row)}</tr>" for row in footer)
    return HTML(f"<table>{head}<thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody>"
                + (f"<tfoot>{foot}</tfoot>" if foot else "") + "</table>")


def _settings(values):
    return ", ".join(f"{_words(name)} {number(value)}" for name, value in values.items()) or "none"


def config(run_config):
    """A run's settings (a `RunConfig`, or any dataclass) as a two-column table instead of its one-line repr.

    Dict fields (the model's and the data's keyword arguments) are spelled
    out as 'c1 50, c2 60'; fields left out of the repr (the session) are left
    out here too.
    """
    fields = [field for field in dataclasses.fields(run_config) if field.repr]
    rows = []
    for field in fields:
        value = getattr(run_config, field.name)
        rows.append((_FIELDS.get(field.name, _words(field.name)), _settings(value) if isinstance(value, dict) else number(value)))
    return _html_table(("setting", "value"), rows, caption=f"{type(run_config).__name__}: the settings of this run")


def _hyperparameter(parameter):
    """(kind, values, default) of a KerasTuner hyperparameter, from its `get_config()`."""
    found = parameter.get_config()
    kind = type(parameter).__name__
    if "values" in found:
        values = ", ".join(number(value) for value in found["values"])
    elif "value" in found:  # Fixed
        values = number(found["value"])
    elif "min_value" in found:  # Int, Float
        step = f", step {number(found['step'])}" if found.get("step") else ""
        values = f"{number(found['min_value'])} to {number(found['max_value'])}{step} ({found.get('sampling') or 'linear'} sampling)"
    else:  # Boolean
        values = "True, False"
    default = found.get("default")
    return kind, values, "–" if default is None else number(default)


def search_space(space):
    """A KerasTuner search space as a table (hyperparameter, kind, values, default) instead of `search_space_summary()`'s dicts.

    Args:
        space: a KerasTuner tuner, or its `HyperParameters`.
    """
    hyperparameters = space.oracle.hyperparameters if hasattr(space, "oracle") else space
    rows = [(parameter.name, *_hyperparameter(parameter)) for parameter in hyperparameters.space]
    choices = [len(parameter.get_config().get("values", ())) for parameter in hyperparameters.space]
    caption = f"Search space: {len(rows)} hyperparameters"
    if all(choices):  # every one a Choice: the space is finite
        caption += f", {math.prod(choices):,} combinations"
    return _html_table(("hyperparameter", "kind", "values", "default"), rows, caption=caption)


def _shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):  # a layer called several times, or never, has no single output
        return "–"
    shapes = [tensor.shape for tensor in (output if isinstance(output, (list, tuple)) else [output])]
    # The batch dimension (None) is left out: the table's header says "per example".
    return "; ".join(" × ".join("?" if size is None else str(size) for size in shape[1:]) or "scalar" for shape in shapes)


def model_summary(model):
    """The layers of a Keras model as a table: name, type, output shape per example, parameters; totals below.

    Keras's `model.summary()` draws its table with box characters and ANSI
    colours, which reports show as escape codes.

    Args:
        model: a built `keras.Model`, or a `RunConfig`, whose model is built
            (untrained) by its factory to show its layers.
    """
    if dataclasses.is_dataclass(model):
        from lib.core.backend import keras
        from lib.core.config import model_factory

        # Initialisers draw random numbers, which TensorFlow's op determinism
        # (runs.setup) refuses without a seed; training seeds again anyway.
        keras.utils.set_random_seed(model.seed)
        model = model_factory(model.model)(**model.model_kwargs)

    def size(weights):
        return sum(math.prod(weight.shape) for weight in weights)

    rows = [(layer.name, type(layer).__name__, _shape(layer), number(layer.count_params())) for layer in model.layers]
    trainable, frozen = size(model.trainable_weights), size(model.non_trainable_weights)
    footer = [("total", "", "", number(trainable + frozen))]
    if frozen:
        footer += [("trainable", "", "", number(trainable)), ("non-trainable", "", "", number(frozen))]
    return _html_table(("layer", "type", "output shape (per example)", "parameters"), rows,
                       caption=f"Model {model.name}: {len(rows)} layers, {number(trainable + frozen)} parameters", footer=footer,
                       right=(2, 3))

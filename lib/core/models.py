"""Model and optimizer factories. Variants are keyword arguments, not copies."""

import functools

from lib import checks
from lib.core.backend import keras
from lib.core.config import OPTIMIZERS
from lib.core.data.text import CHARACTERS

layers = keras.layers
RNN_CELLS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}


def build_cifar_cnn(c1=50, c2=60, dropout=0.0, num_classes=10):
    """Study A's CNN for 32x32x3 CIFAR-10 images (uncompiled).

    C1 conv 9x9 ReLU -> S1 max-pool 2 -> C2 conv 5x5 ReLU -> S2 max-pool 2 ->
    F3 dense 300 (no activation) -> F4 dense softmax; all VALID. With the
    defaults it has 378,570 parameters.

    Args:
        c1: channels of the first convolution. Defaults to 50.
        c2: channels of the second convolution. Defaults to 60.
        dropout: rate of the dropout after flatten and after F3; 0 (the
            default) adds no dropout layers.
        num_classes: size of the softmax. Defaults to 10.

    Returns:
        A `keras.Model` whose layers are named C1, S1, C2, S2, F3, F4.
    """
    for name, value in (("c1", c1), ("c2", c2)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected a positive integer.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid value for `dropout`. Received: dropout={dropout!r}. Expected a rate in [0, 1).")
    inputs = keras.Input(shape=(32, 32, 3), name="image")
    x = layers.Conv2D(c1, 9, padding="valid", activation="relu", name="C1")(inputs)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="S1")(x)
    x = layers.Conv2D(c2, 5, padding="valid", activation="relu", name="C2")(x)
    x = layers.MaxPooling2D(2, strides=2, padding="valid", name="S2")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout_flatten")(x)
    x = layers.Dense(300, name="F3")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout_F3")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="F4")(x)
    return keras.Model(inputs, outputs, name=f"cifar_cnn_{c1}_{c2}")


# Weight and bias initialisers of `build_image_cnn`: Keras's defaults, or the
# TensorFlow "deep MNIST" starter's (truncated normal, std 0.1; biases 0.1).
IMAGE_CNN_INITIALIZERS = ("keras", "starter")


def build_image_cnn(input_shape=(28, 28, 1), filters=(32, 64), kernel_size=5, dense_units=1024, dropout=0.5, num_classes=10,
                    initializer="keras"):
    """Study C's CNN (the TensorFlow "deep MNIST" network), uncompiled.

    conv1 5x5 ReLU -> pool1 max-pool 2 -> conv2 5x5 ReLU -> pool2 max-pool 2
    -> fc1 dense ReLU -> dropout -> output dense softmax. Convolutions and
    pools use SAME padding, as that tutorial's code does.

    Args:
        input_shape: (height, width, channels). Defaults to (28, 28, 1).
        filters: channels of the two convolutions. Defaults to (32, 64).
        kernel_size: convolution window. Defaults to 5.
        dense_units: width of fc1. Defaults to 1024.
        dropout: rate of the dropout after fc1; 0 adds none. Defaults to 0.5.
        num_classes: size of the softmax. Defaults to 10.
        initializer: "keras" (the default: Glorot-uniform weights, zero
            biases) or "starter" (the course starter's truncated-normal
            weights with standard deviation 0.1 and biases 0.1).

    Returns:
        A `keras.Model` whose layers are named conv1, pool1, conv2, pool2, fc1, output.
    """
    checks.choice("initializer", initializer, IMAGE_CNN_INITIALIZERS)
    init = {} if initializer == "keras" else {"kernel_initializer": keras.initializers.TruncatedNormal(stddev=0.1),
                                              "bias_initializer": keras.initializers.Constant(0.1)}
    if len(filters) != 2:
        raise ValueError(f"Invalid value for `filters`. Received: filters={filters!r}. Expected two channel counts.")
    for name, value in (("filters[0]", filters[0]), ("filters[1]", filters[1]), ("kernel_size", kernel_size), ("dense_units", dense_units)):
        checks.positive_int(name, value)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid value for `dropout`. Received: dropout={dropout!r}. Expected a rate in [0, 1).")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(filters[0], kernel_size, padding="same", activation="relu", name="conv1", **init)(inputs)
    x = layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = layers.Conv2D(filters[1], kernel_size, padding="same", activation="relu", name="conv2", **init)(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1", **init)(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output", **init)(x)
    return keras.Model(inputs, outputs, name="image_cnn")


def build_sequence_rnn(cell="simple_rnn", units=128, num_layers=1, input_shape=(28, 28, 1), num_classes=10):
    """A recurrent classifier that reads each image row by row (uncompiled).

    An (H, W, C) image is H time steps of W*C values; `num_layers` stacked
    recurrent layers (tanh), the last one's final state -> dense softmax.

    Args:
        cell: one of `RNN_CELLS` ("simple_rnn", "lstm", "gru"). Defaults to "simple_rnn".
        units: hidden units of each recurrent layer. Defaults to 128.
        num_layers: stacked recurrent layers. Defaults to 1.
        input_shape: (height, width, channels). Defaults to (28, 28, 1).
        num_classes: size of the softmax. Defaults to 10.

    Returns:
        A `keras.Model` with layers rnn1 ... rnn<num_layers> and output.
    """
    checks.choice("cell", cell, tuple(RNN_CELLS))
    checks.positive_int("units", units)
    checks.positive_int("num_layers", num_layers)
    height, width, channels = input_shape
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Reshape((height, width * channels), name="rows")(inputs)
    for index in range(1, num_layers + 1):
        x = RNN_CELLS[cell](units, return_sequences=index < num_layers, name=f"rnn{index}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=f"{cell}_{num_layers}x{units}")


def make_optimizer(name, lr, momentum=0.0, clipvalue=0.0):
    """A Keras optimizer by name.

    Args:
        name: one of `OPTIMIZERS` ("sgd", "rmsprop", "adam").
        lr: learning rate.
        momentum: SGD momentum; only valid with "sgd". Defaults to 0.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue]
            (Keras's `clipvalue`, as Study B's Q6c did); 0 (the default)
            does not clip.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer: {name!r}. Expected one of {OPTIMIZERS}.")
    if not lr > 0:
        raise ValueError(f"Invalid value for `lr`. Received: lr={lr!r}. Expected a positive number.")
    if momentum and name != "sgd":
        raise ValueError(f"`momentum` applies to 'sgd' only. Received: optimizer={name!r}, momentum={momentum!r}.")
    if not isinstance(clipvalue, (int, float)) or isinstance(clipvalue, bool) or clipvalue < 0:
        raise ValueError(f"Invalid value for `clipvalue`. Received: clipvalue={clipvalue!r}. Expected a non-negative number (0: no clipping).")
    clip = {"clipvalue": clipvalue} if clipvalue else {}
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=momentum, **clip)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, **clip)
    return keras.optimizers.Adam(learning_rate=lr, **clip)


def feature_maps(model, images, layer_names=("C1", "S1", "C2", "S2")):
    """Activations of the named layers for a batch of images.

    Uses a functional sub-model (keract's `get_activations` does not work
    with Keras 3).

    Returns:
        dict of layer name -> numpy array (N, H, W, C).
    """
    outputs = [model.get_layer(name).output for name in layer_names]
    extractor = keras.Model(model.inputs, outputs)
    values = extractor.predict(images, verbose=0)
    return {name: keras.ops.convert_to_numpy(value) for name, value in zip(layer_names, values)}


# Study B: DBpedia text classification (character and word CNNs and RNNs).


class OneHot(layers.Layer):
    """Integer ids (N, T) -> one-hot floats (N, T, depth); with `mask_zero`, id 0 is masked (padding)."""

    def __init__(self, depth, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.depth, self.mask_zero = depth, mask_zero

    def call(self, ids):
        return keras.ops.one_hot(ids, self.depth)

    def compute_mask(self, ids, mask=None):
        return keras.ops.not_equal(ids, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)


def _sum_of_kernel_rows(kernel, ids):
    # C1 before bias and activation: for each step t, sum over offsets k of kernel[k, ids[t + k]].
    ops = keras.ops
    window, characters, filters = kernel.shape
    offsets = ops.arange(window, dtype="int32")
    windows = ops.take(ids, ops.arange(ids.shape[1] - window + 1, dtype="int32")[:, None] + offsets[None, :], axis=1)
    table = ops.reshape(kernel, (window * characters, filters))  # row k * characters + c
    return ops.sum(ops.take(table, offsets * characters + windows, axis=0), axis=2)  # (N, steps, filters)


@functools.cache
def _xla_on_tensorflow(function):
    # TensorFlow runs the gathers, the sum and the gradient's scatter-add op by
    # op; XLA fuses them, 3-4x faster on a 2-core CPU (bench/README.md). Keras
    # compiles whole models with XLA only without op determinism, which
    # runs.setup turns on, so this one function is compiled alone (on CPU XLA's
    # scatter-add is a sequential loop: deterministic). JAX compiles whole steps anyway.
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    compiled = tf.function(function, jit_compile=True)
    return lambda *tensors: compiled(*map(tf.convert_to_tensor, tensors))  # Keras variables are read here


class CharConv1D(layers.Layer):
    """`Conv1D(filters, window, padding="valid")` over one-hot characters, computed by table lookup.

    A window of one-hot rows selects one row of the kernel per offset, so the
    convolution is a sum of `window` looked-up rows of `filters` values: no
    multiplications by zeros. The kernel has Conv1D's shape (window,
    characters, filters) and initialisation, so weights carry over between
    the two (`tests/test_study_b.py` shows the outputs equal).
    """

    def __init__(self, filters, window, characters=CHARACTERS, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.window, self.characters = filters, window, characters
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(self.window, self.characters, self.filters), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, ids):
        return self.activation(_xla_on_tensorflow(_sum_of_kernel_rows)(self.kernel, keras.ops.cast(ids, "int32")) + self.bias)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] - self.window + 1, self.filters)


def _text_cnn_head(x, dropout, num_classes):
    # S1 -> C2 -> S2 -> flatten -> (dropout) -> softmax, shared by both CNNs.
    x = layers.MaxPooling1D(4, strides=2, padding="same", name="S1")(x)
    x = layers.Conv1D(10, 20, padding="valid", activation="relu", name="C2")(x)
    x = layers.MaxPooling1D(4, strides=2, padding="same", name="S2")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name="output")(x)


def build_char_cnn(dropout=0.0, num_classes=14, length=100, lookup=True):
    """Study B Q1: character CNN over 100 character ids (uncompiled).

    One-hot characters (length x 256) -> C1 10 filters 20x256 VALID ReLU -> S1
    max-pool 4 stride 2 SAME -> C2 10 filters 20x1 VALID ReLU -> S2 max-pool
    4 stride 2 SAME -> flatten -> dense softmax.

    Args:
        dropout: rate of a dropout before the softmax; 0 (the default) adds none.
        num_classes: size of the softmax. Defaults to 14.
        length: characters per text. Defaults to 100.
        lookup: compute C1 as a table lookup (`CharConv1D`, fast) rather than
            a Conv1D over one-hot input; the outputs are equal. Defaults to True.

    Returns:
        A `keras.Model` from ids (N, length) to class probabilities.
    """
    checks.rate("dropout", dropout)
    checks.positive_int("num_classes", num_classes)
    checks.positive_int("length", length)
    ids = keras.Input(shape=(length,), dtype="int32", name="characters")
    if lookup:
        x = CharConv1D(10, 20, activation="relu", name="C1")(ids)
    else:
        x = layers.Conv1D(10, 20, padding="valid", activation="relu", name="C1")(OneHot(CHARACTERS, name="one_hot")(ids))
    return keras.Model(ids, _text_cnn_head(x, dropout, num_classes), name="char_cnn")


def build_word_cnn(vocabulary_size, embedding_size=20, dropout=0.0, num_classes=14, length=100):
    """Study B Q2: word CNN over 100 word ids (uncompiled).

    Embedding 20 -> C1 10 filters 20x20 VALID ReLU -> S1 -> C2 -> S2 as the
    character CNN -> flatten -> dense softmax.

    Args:
        vocabulary_size: number of word ids (padding and out-of-vocabulary included).
        embedding_size: embedding width. Defaults to 20.
        dropout: rate of a dropout before the softmax; 0 (the default) adds none.
        num_classes: size of the softmax. Defaults to 14.
        length: words per text. Defaults to 100.

    Returns:
        A `keras.Model` from ids (N, length) to class probabilities.
    """
    for name, value in (("vocabulary_size", vocabulary_size), ("embedding_size", embedding_size), ("num_classes", num_classes), ("length", length)):
        checks.positive_int(name, value)
    checks.rate("dropout", dropout)
    ids = keras.Input(shape=(length,), dtype="int32", name="words")
    x = layers.Embedding(vocabulary_size, embedding_size, name="embedding")(ids)
    x = layers.Conv1D(10, 20, padding="valid", activation="relu", name="C1")(x)
    return keras.Model(ids, _text_cnn_head(x, dropout, num_classes), name="word_cnn")


def _text_rnn(ids, x, cell, units, num_layers, dropout, num_classes, name):
    checks.choice("cell", cell, tuple(RNN_CELLS))
    for argument, value in (("units", units), ("num_layers", num_layers), ("num_classes", num_classes)):
        checks.positive_int(argument, value)
    checks.rate("dropout", dropout)
    for layer in range(1, num_layers + 1):
        x = RNN_CELLS[cell](units, return_sequences=layer < num_layers, name=f"{cell}_{layer}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{layer}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(ids, outputs, name=name)


def build_char_rnn(cell="gru", units=20, num_layers=1, dropout=0.0, num_classes=14, length=100, mask_padding=False):
    """Study B Q3 (and Q5, Q6): a recurrent net over one-hot characters (uncompiled).

    One-hot characters -> `num_layers` stacked cells of `units` -> the last
    state -> dense softmax. As in the original, the padding (id 0) is fed to
    the cells like any character unless `mask_padding`.

    Args:
        cell: "gru" (the default), "lstm" or "simple_rnn" (vanilla RNN).
        units: state size of each layer. Defaults to 20.
        num_layers: stacked recurrent layers. Defaults to 1.
        dropout: rate of a dropout after each recurrent layer; 0 (the default) adds none.
        num_classes: size of the softmax. Defaults to 14.
        length: characters per text. Defaults to 100.
        mask_padding: skip the padding steps (Keras masking), so the last
            state is that of the last character; False (the default) as
            the original.

    Returns:
        A `keras.Model` from ids (N, length) to class probabilities.
    """
    checks.positive_int("length", length)
    ids = keras.Input(shape=(length,), dtype="int32", name="characters")
    x = OneHot(CHARACTERS, mask_zero=bool(mask_padding), name="one_hot")(ids)
    return _text_rnn(ids, x, cell, units, num_layers, dropout, num_classes, f"char_{cell}")


def build_word_rnn(vocabulary_size, cell="gru", units=20, num_layers=1, dropout=0.0, embedding_size=20, num_classes=14, length=100,
                   mask_padding=False):
    """Study B Q4 (and Q5, Q6): a recurrent net over word embeddings (uncompiled).

    Embedding 20 -> `num_layers` stacked cells of `units` -> the last state
    -> dense softmax. As in the original, the padding (id 0) is fed to the
    cells like any word unless `mask_padding`.

    Args:
        vocabulary_size: number of word ids (padding and out-of-vocabulary included).
        cell, units, num_layers, dropout, num_classes, length, mask_padding: as `build_char_rnn`.
        embedding_size: embedding width. Defaults to 20.

    Returns:
        A `keras.Model` from ids (N, length) to class probabilities.
    """
    for name, value in (("vocabulary_size", vocabulary_size), ("embedding_size", embedding_size), ("length", length)):
        checks.positive_int(name, value)
    ids = keras.Input(shape=(length,), dtype="int32", name="words")
    x = layers.Embedding(vocabulary_size, embedding_size, mask_zero=bool(mask_padding), name="embedding")(ids)
    return _text_rnn(ids, x, cell, units, num_layers, dropout, num_classes, f"word_{cell}")
def activation_statistics(model, images, layer_names, batch_size=256, before_activation=False):
    """Mean, standard deviation, maximum and minimum of each named layer's outputs.

    Each statistic is over every value of the layer's output on `images`
    (all examples, positions and channels), accumulated batch by batch in
    float64 so the whole activation tensor is never held at once.

    Args:
        model: a built `keras.Model`.
        images: array of model inputs.
        layer_names: names of the layers to summarise.
        batch_size: examples per forward pass. Defaults to 256.
        before_activation: summarise each convolution's output before its
            activation (kernel and bias applied, ReLU not), as Study C's
            write-up did. Defaults to False (the layer's output).

    Returns:
        pandas DataFrame indexed by layer with columns mean, std, max, min.
    """
    import numpy as np
    import pandas as pd

    chosen = [model.get_layer(name) for name in layer_names]
    if before_activation:
        for layer in chosen:
            if not hasattr(layer, "convolution_op"):
                raise ValueError(f"`before_activation` needs convolution layers. Received: layer {layer.name!r} ({type(layer).__name__}).")
        extractor = keras.Model(model.input, [layer.input for layer in chosen])
    else:
        extractor = keras.Model(model.input, [layer.output for layer in chosen])
    totals = {name: {"count": 0, "sum": 0.0, "squares": 0.0, "max": -np.inf, "min": np.inf} for name in layer_names}
    for start in range(0, len(images), batch_size):
        outputs = extractor(images[start : start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        if before_activation:
            outputs = [layer.convolution_op(x, layer.kernel) + (layer.bias if layer.use_bias else 0.0) for layer, x in zip(chosen, outputs)]
        for name, value in zip(layer_names, outputs):
            value = keras.ops.convert_to_numpy(value).astype(np.float64)
            total = totals[name]
            total["count"] += value.size
            total["sum"] += value.sum()
            total["squares"] += np.square(value).sum()
            total["max"], total["min"] = max(total["max"], value.max()), min(total["min"], value.min())
    rows = {}
    for name, total in totals.items():
        mean = total["sum"] / total["count"]
        variance = max(total["squares"] / total["count"] - mean**2, 0.0)
        rows[name] = {"mean": mean, "std": variance**0.5, "max": total["max"], "min": total["min"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def build_search_cnn(conv_layers=2, filters=32, kernel_size=3, strides=1, activation="relu", dropout=0.0,
                     initializer="glorot_uniform", num_classes=10):
    """Study E1's CNN family for 32x32x3 images (uncompiled).

    `conv_layers` blocks of conv (`filters`, `kernel_size`, `strides`, SAME
    padding, `activation`) -> max-pool 2x2 (SAME, so deep or strided stacks
    never shrink below 1x1); then flatten -> dropout -> dense softmax.

    Args:
        conv_layers: number of conv blocks. Defaults to 2.
        filters: channels of every convolution. Defaults to 32.
        kernel_size: square kernel side. Defaults to 3.
        strides: convolution stride. Defaults to 1.
        activation: "relu", "tanh" or "sigmoid". Defaults to "relu".
        dropout: rate before the softmax layer; 0 adds none. Defaults to 0.
        initializer: Keras initializer name of every kernel, e.g.
            "glorot_uniform" or "he_normal". Defaults to "glorot_uniform".
        num_classes: size of the softmax. Defaults to 10.

    Returns:
        A `keras.Model`.
    """
    checks.choice("activation", activation, ("relu", "tanh", "sigmoid"))
    for name, value in (("conv_layers", conv_layers), ("filters", filters), ("kernel_size", kernel_size), ("strides", strides)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected a positive integer.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid value for `dropout`. Received: dropout={dropout!r}. Expected a rate in [0, 1).")
    x = inputs = keras.Input(shape=(32, 32, 3), name="image")
    for index in range(1, conv_layers + 1):
        x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", activation=activation,
                          kernel_initializer=initializer, name=f"conv{index}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{index}")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer=initializer, name="softmax")(x)
    return keras.Model(inputs, outputs, name="search_cnn")


def build_word_lm(vocabulary_size, embedding_dim=100, hidden_units=128, num_layers=1, activation="tanh", dropout=0.0,
                  initializer="glorot_uniform"):
    """Study E2's word-level language model (uncompiled): next-word softmax at every step.

    Embedding -> `num_layers` LSTM layers (`hidden_units`, `activation`,
    returning sequences) -> dropout -> dense softmax over the vocabulary.

    Args:
        vocabulary_size: number of word ids (the unknown-word id included).
        embedding_dim: embedding width. Defaults to 100.
        hidden_units: LSTM units per layer. Defaults to 128.
        num_layers: stacked LSTM layers. Defaults to 1.
        activation: the LSTM's cell activation, "tanh" or "relu". Defaults to "tanh".
        dropout: rate after the embedding and after each LSTM layer; 0 adds none.
        initializer: Keras initializer name of the embedding, LSTM input
            kernels and output layer. Defaults to "glorot_uniform".

    Returns:
        A `keras.Model` mapping (batch, steps) word ids to (batch, steps, vocabulary_size) probabilities.
    """
    checks.choice("activation", activation, ("tanh", "relu"))
    for name, value in (("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim),
                        ("hidden_units", hidden_units), ("num_layers", num_layers)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected a positive integer.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid value for `dropout`. Received: dropout={dropout!r}. Expected a rate in [0, 1).")
    inputs = keras.Input(shape=(None,), dtype="int32", name="words")
    x = layers.Embedding(vocabulary_size, embedding_dim, embeddings_initializer=initializer, name="embedding")(inputs)
    for index in range(1, num_layers + 1):
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{index}")(x)
        x = layers.LSTM(hidden_units, activation=activation, return_sequences=True, kernel_initializer=initializer,
                        name=f"lstm{index}")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout_out")(x)
    outputs = layers.Dense(vocabulary_size, activation="softmax", kernel_initializer=initializer, name="next_word")(x)
    return keras.Model(inputs, outputs, name="word_lm")

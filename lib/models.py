"""Model and optimizer factories. Variants are keyword arguments, not copies."""

import keras
from keras import layers

OPTIMIZERS = ("sgd", "rmsprop", "adam")
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


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Invalid value for `{name}`. Received: {name}={value!r}. Expected a positive integer.")


def build_image_cnn(input_shape=(28, 28, 1), filters=(32, 64), kernel_size=5, dense_units=1024, dropout=0.5, num_classes=10):
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

    Returns:
        A `keras.Model` whose layers are named conv1, pool1, conv2, pool2, fc1, output.
    """
    if len(filters) != 2:
        raise ValueError(f"Invalid value for `filters`. Received: filters={filters!r}. Expected two channel counts.")
    for name, value in (("filters[0]", filters[0]), ("filters[1]", filters[1]), ("kernel_size", kernel_size), ("dense_units", dense_units)):
        _check_positive_int(name, value)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"Invalid value for `dropout`. Received: dropout={dropout!r}. Expected a rate in [0, 1).")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(filters[0], kernel_size, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = layers.Conv2D(filters[1], kernel_size, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
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
    if cell not in RNN_CELLS:
        raise ValueError(f"Unknown cell: {cell!r}. Expected one of {tuple(RNN_CELLS)}.")
    _check_positive_int("units", units)
    _check_positive_int("num_layers", num_layers)
    height, width, channels = input_shape
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Reshape((height, width * channels), name="rows")(inputs)
    for index in range(1, num_layers + 1):
        x = RNN_CELLS[cell](units, return_sequences=index < num_layers, name=f"rnn{index}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=f"{cell}_{num_layers}x{units}")


def make_optimizer(name, lr, momentum=0.0, clipnorm=0.0):
    """A Keras optimizer by name.

    Args:
        name: one of `OPTIMIZERS` ("sgd", "rmsprop", "adam").
        lr: learning rate.
        momentum: SGD momentum; only valid with "sgd". Defaults to 0.
        clipnorm: clip each gradient to this L2 norm; 0 (the default) does
            not clip.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer: {name!r}. Expected one of {OPTIMIZERS}.")
    if not lr > 0:
        raise ValueError(f"Invalid value for `lr`. Received: lr={lr!r}. Expected a positive number.")
    if momentum and name != "sgd":
        raise ValueError(f"`momentum` applies to 'sgd' only. Received: optimizer={name!r}, momentum={momentum!r}.")
    if not isinstance(clipnorm, (int, float)) or isinstance(clipnorm, bool) or clipnorm < 0:
        raise ValueError(f"Invalid value for `clipnorm`. Received: clipnorm={clipnorm!r}. Expected a non-negative number (0: no clipping).")
    clip = {"clipnorm": clipnorm} if clipnorm else {}
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


def activation_statistics(model, images, layer_names, batch_size=256):
    """Mean, standard deviation, maximum and minimum of each named layer's outputs.

    Each statistic is over every value of the layer's output on `images`
    (all examples, positions and channels), accumulated batch by batch in
    float64 so the whole activation tensor is never held at once.

    Args:
        model: a built `keras.Model`.
        images: array of model inputs.
        layer_names: names of the layers to summarise.
        batch_size: examples per forward pass. Defaults to 256.

    Returns:
        pandas DataFrame indexed by layer with columns mean, std, max, min.
    """
    import numpy as np
    import pandas as pd

    extractor = keras.Model(model.input, [model.get_layer(name).output for name in layer_names])
    totals = {name: {"count": 0, "sum": 0.0, "squares": 0.0, "max": -np.inf, "min": np.inf} for name in layer_names}
    for start in range(0, len(images), batch_size):
        outputs = extractor(images[start : start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
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

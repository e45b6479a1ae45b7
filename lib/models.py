"""Model and optimizer factories. Variants are keyword arguments, not copies."""

import keras
from keras import layers

OPTIMIZERS = ("sgd", "rmsprop", "adam")


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


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"Unknown {name}: {value!r}. Expected one of {tuple(allowed)}.")


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
    _check_choice("activation", activation, ("relu", "tanh", "sigmoid"))
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
    _check_choice("activation", activation, ("tanh", "relu"))
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

import keras
import pytest

from lib.core import models


def test_cifar_cnn_shapes_and_parameter_count():
    model = models.build_cifar_cnn(c1=50, c2=60)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["C1"] == (24, 24, 50)
    assert shapes["S1"] == (12, 12, 50)
    assert shapes["C2"] == (8, 8, 60)
    assert shapes["S2"] == (4, 4, 60)
    assert shapes["F3"] == (300,)
    assert shapes["F4"] == (10,)
    assert model.count_params() == 378_570


def test_dropout_adds_two_layers_and_no_parameters():
    plain, dropped = models.build_cifar_cnn(), models.build_cifar_cnn(dropout=0.5)
    rates = [layer.rate for layer in dropped.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.5, 0.5]
    assert dropped.count_params() == plain.count_params()


def test_channels_change_the_parameter_count():
    # C1: 9*9*3*10+10, C2: 5*5*10*20+20, F3: 4*4*20*300+300, F4: 300*10+10
    assert models.build_cifar_cnn(c1=10, c2=20).count_params() == 2440 + 5020 + 96300 + 3010


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"c1": 0}, r"Invalid value for `c1`. Received: c1=0. Expected a positive integer."),
        ({"c2": 2.5}, r"Invalid value for `c2`. Received: c2=2.5."),
        ({"dropout": 1.0}, r"Received: dropout=1.0. Expected a rate in \[0, 1\)."),
    ],
)
def test_bad_model_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_cifar_cnn(**kwargs)


def test_optimizers():
    sgd = models.make_optimizer("sgd", 0.001, momentum=0.1)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == pytest.approx(0.1)
    assert float(sgd.learning_rate) == pytest.approx(0.001)
    assert isinstance(models.make_optimizer("rmsprop", 0.001), keras.optimizers.RMSprop)
    assert isinstance(models.make_optimizer("adam", 0.001), keras.optimizers.Adam)
    assert models.make_optimizer("adam", 0.01).clipvalue is None
    assert models.make_optimizer("adam", 0.01, clipvalue=2.0).clipvalue == pytest.approx(2.0)


@pytest.mark.parametrize(
    "args, message",
    [
        (("adamw", 0.001), r"Unknown optimizer: 'adamw'. Expected one of \('sgd', 'rmsprop', 'adam'\)."),
        (("sgd", 0), r"Invalid value for `lr`. Received: lr=0."),
        (("adam", 0.001, 0.9), r"`momentum` applies to 'sgd' only. Received: optimizer='adam', momentum=0.9."),
    ],
)
def test_bad_optimizer_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        models.make_optimizer(*args)


def test_feature_maps_shapes():
    import numpy as np

    maps = models.feature_maps(models.build_cifar_cnn(), np.zeros((2, 32, 32, 3), dtype="float32"))
    assert {name: value.shape for name, value in maps.items()} == {
        "C1": (2, 24, 24, 50), "S1": (2, 12, 12, 50), "C2": (2, 8, 8, 60), "S2": (2, 4, 4, 60),
    }

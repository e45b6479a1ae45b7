"""What a data directory's copy lacks against the data the studies were published on."""

from lib.core import data

MNIST_TRAIN_DIGITS = 60_000  # keras.datasets' MNIST, which Studies C and D trained on


def mnist(session):
    """"9,997 of 60,000 MNIST training digits" when `session`'s copy holds fewer than the published 60,000, else None."""
    digits = len(data.load("mnist", {}, session.data_dir).y_train)
    if digits >= MNIST_TRAIN_DIGITS:
        return None
    return f"{digits:,} of {MNIST_TRAIN_DIGITS:,} MNIST training digits in this data directory's copy"

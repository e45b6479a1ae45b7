"""Subsets and splits shared by the loaders: the first or last N of each class, held-out splits."""

import dataclasses

import numpy as np


def check_labels(labels, num_classes, source):
    """Check that `labels` are a non-empty list of class ids from 0 to `num_classes` - 1.

    Args:
        labels: 1-D array of labels as a file holds them.
        num_classes: how many classes the data set has.
        source: where the labels come from (a file, and the array's name);
            every message starts with it.

    Returns:
        The labels as an int64 array.

    Raises:
        ValueError: the labels are empty, not integers or out of range.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"{source}: expected a non-empty list of labels; an empty split cannot be trained or "
                         f"evaluated. Received: shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{source}: labels must be integers from 0 to {num_classes - 1}. Received: dtype {labels.dtype}.")
    outside = np.unique(labels[(labels < 0) | (labels >= num_classes)])
    if outside.size:
        raise ValueError(f"{source}: labels must be integers from 0 to {num_classes - 1}. "
                         f"Received: {outside[:5].tolist()}{f' and {outside.size - 5} more' if outside.size > 5 else ''}.")
    return labels.astype(np.int64)


def first_per_class(labels, per_class):
    """Indices of the first `per_class` examples of each class, in file order.

    This is how the course's `test_batch_trim` (200 per class) was made.

    Args:
        labels: 1-D integer array.
        per_class: how many to keep per class; `None` keeps everything.

    Returns:
        Sorted int array of indices.
    """
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels))
    if per_class < 1:
        raise ValueError(f"Invalid value for `per_class`. Received: per_class={per_class}. Expected a positive integer or None.")
    keep = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        keep[np.flatnonzero(labels == label)[:per_class]] = True
    return np.flatnonzero(keep)


def last_per_class(labels, per_class):
    """Sorted indices of the last `per_class` examples of each class."""
    keep = [np.flatnonzero(labels == label)[-per_class:] for label in np.unique(labels)]
    return np.sort(np.concatenate(keep))




@dataclasses.dataclass(frozen=True)
class HeldOutSplits:
    """Training, validation and held-out test arrays, for a search.

    `x_test`/`y_test` hold the VALIDATION split (held out of the training
    data): runs evaluate that slot after every epoch and record it as
    `test_*`, so a search never sees the test set. The real test set is
    `x_heldout`/`y_heldout`, for the chosen model only.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_heldout: np.ndarray
    y_heldout: np.ndarray
    files: dict  # file name -> {"sha256": ..., "copy": ...}, for provenance

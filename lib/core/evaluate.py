"""Test-set scores of a classifier: confusion matrix, per-class and macro precision, recall, F1."""

import numpy as np
import pandas as pd


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts[i, j] of examples of class i predicted as class j.

    Args:
        y_true, y_pred: integer arrays of equal length with values in [0, num_classes).
        num_classes: number of classes (rows and columns).

    Returns:
        int64 array (num_classes, num_classes).
    """
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} and {len(y_pred)}.")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} has labels outside [0, {num_classes}): min {values.min()}, max {values.max()}.")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def classification_scores(counts, class_names):
    """Per-class precision, recall, F1 and support from a confusion matrix, plus their macro mean.

    A class never predicted (or never present) has precision (recall) 0,
    as scikit-learn reports with zero_division=0.

    Returns:
        pandas DataFrame indexed by class name and "macro average".
    """
    counts = np.asarray(counts, dtype=float)
    hits = np.diag(counts)
    predicted, present = counts.sum(axis=0), counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(present > 0, hits / present, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    frame = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": present.astype(int)},
                         index=pd.Index(list(class_names), name="class"))
    frame.loc["macro average"] = [precision.mean(), recall.mean(), f1.mean(), int(present.sum())]
    frame["support"] = frame["support"].astype(int)
    return frame


def accuracy(counts):
    """Fraction of examples on the confusion matrix's diagonal."""
    counts = np.asarray(counts)
    return float(np.trace(counts) / counts.sum())


def confusion_frame(counts, labels):
    """A confusion matrix as a DataFrame with "true" rows and "predicted" columns (for `plots.heatmap`)."""
    return pd.DataFrame(np.asarray(counts), index=pd.Index(list(labels), name="true"),
                        columns=pd.Index(list(labels), name="predicted"))

"""Test-set scores of a classifier (confusion matrix, per-class and macro precision, recall, F1), wrapping scikit-learn."""

import numpy as np
import pandas as pd
from sklearn import metrics


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
    return metrics.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))


def _weighted_pairs(counts):
    """Each cell (true i, predicted j) of a confusion matrix once, weighted by its count, for `sklearn.metrics`."""
    counts = np.asarray(counts)
    true, predicted = np.indices(counts.shape)
    return true.ravel(), predicted.ravel(), counts.ravel()


def classification_scores(counts, class_names):
    """Per-class precision, recall, F1 and support from a confusion matrix, plus their macro mean.

    A class never predicted (or never present) has precision (recall) 0 (scikit-learn's zero_division=0).

    Returns:
        pandas DataFrame indexed by class name and "macro average".
    """
    true, predicted, weights = _weighted_pairs(counts)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        true, predicted, labels=np.unique(true), sample_weight=weights, zero_division=0)
    frame = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1, "support": support},
                         index=pd.Index(list(class_names), name="class"))
    frame.loc["macro average"] = [precision.mean(), recall.mean(), f1.mean(), support.sum()]
    frame["support"] = frame["support"].astype(int)
    return frame


def accuracy(counts):
    """Fraction of examples on the confusion matrix's diagonal."""
    true, predicted, weights = _weighted_pairs(counts)
    return float(metrics.accuracy_score(true, predicted, sample_weight=weights))


def confusion_frame(counts, labels):
    """A confusion matrix as a DataFrame with "true" rows and "predicted" columns (for `plots.heatmap`)."""
    return pd.DataFrame(np.asarray(counts), index=pd.Index(list(labels), name="true"),
                        columns=pd.Index(list(labels), name="predicted"))

"""Word-level language models: perplexity, next-word accuracy, text generation."""

import numpy as np

from lib.core.backend import keras
from lib.core.data import text

# Smallest probability counted, so a word the model calls impossible costs a
# large but finite amount instead of making the perplexity infinite.
_FLOOR = 1e-12


def perplexity(probabilities, targets):
    """exp of the mean negative log-probability given to each target word.

    Args:
        probabilities: array (..., vocabulary) of next-word distributions.
        targets: integer array (...) of the words that came next.

    Returns:
        float.
    """
    picked = np.take_along_axis(np.asarray(probabilities, dtype=np.float64), np.asarray(targets)[..., None], axis=-1)
    return float(np.exp(-np.mean(np.log(np.maximum(picked, _FLOOR)))))


def next_word_scores(model, inputs, targets, batch_size=256):
    """Perplexity and next-word accuracy of `model` on word windows, batch by batch.

    The (windows x steps x vocabulary) probabilities are never held at once.

    Args:
        model: maps (batch, steps) word ids to (batch, steps, vocabulary) probabilities.
        inputs, targets: int arrays (windows, steps), as `text.sequence_windows` gives.
        batch_size: windows per prediction batch.

    Returns:
        dict with "perplexity", "accuracy", "predictions" (the most likely
        next word at every position, same shape as `targets`) and "words".
    """
    log_sum, predictions = 0.0, []
    for start in range(0, len(inputs), batch_size):
        probabilities = np.asarray(model.predict(inputs[start : start + batch_size], verbose=0), dtype=np.float64)
        picked = np.take_along_axis(probabilities, targets[start : start + batch_size][..., None], axis=-1)
        log_sum += float(np.log(np.maximum(picked, _FLOOR)).sum())
        predictions.append(probabilities.argmax(axis=-1))
    predictions = np.concatenate(predictions)
    return {"perplexity": float(np.exp(-log_sum / targets.size)), "accuracy": float(np.mean(predictions == targets)),
            "predictions": predictions, "words": int(targets.size)}


def generate(model, vocabulary, prompt, num_words=30, temperature=1.0, seed=0, context=32):
    """Continue `prompt` by sampling one word at a time.

    Each next word is drawn from the model's distribution sharpened by
    `temperature` (p ** (1 / temperature), renormalised): below 1 it is more
    conservative, above 1 more varied.

    Args:
        model: a next-word model such as `models.build_word_lm`.
        vocabulary: tuple of words (index = id), `text.UNKNOWN_WORD` first.
        prompt: text; its words outside the vocabulary become the unknown word.
        num_words: how many words to add.
        temperature: a positive number.
        seed: seed of the sampling.
        context: the model reads at most this many previous words.

    Returns:
        The prompt's words followed by the generated ones, as one string.
    """
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"Invalid value for `temperature`. Received: temperature={temperature!r}. Expected a positive number.")
    ids = list(text.encode(text.words(prompt, text.SHAKESPEARE_WORD), vocabulary, 0))
    if not ids:
        raise ValueError(f"The prompt {prompt!r} has no words. Expected some text, e.g. 'to be or not'.")
    rng = np.random.default_rng(seed)
    for _ in range(num_words):
        # A direct call: `predict` would retrace for every new input length.
        output = model(np.array([ids[-context:]], dtype=np.int32), training=False)
        probabilities = np.asarray(keras.ops.convert_to_numpy(output)[0, -1], dtype=np.float64)
        weights = np.exp(np.log(np.maximum(probabilities, _FLOOR)) / temperature)
        ids.append(int(rng.choice(len(weights), p=weights / weights.sum())))
    return " ".join(vocabulary[i] for i in ids)


def top_word_confusion(targets, predictions, top):
    """Confusion counts over word ids 1..top (the most frequent words), everything else as one "other" class.

    Ids are ranked by training frequency (`text.build_vocabulary`), so
    1..top are the `top` most frequent words; the unknown word is "other".

    Returns:
        (targets, predictions) mapped to 0..top-1 for those words and `top` for "other".
    """
    def mapped(ids):
        ids = np.asarray(ids).ravel()
        return np.where((ids >= 1) & (ids <= top), ids - 1, top)

    return mapped(targets), mapped(predictions)


def unigram_perplexity(train_ids, targets, vocabulary_size):
    """Perplexity of always predicting the training words' frequencies (add-one smoothed): a baseline.

    Args:
        train_ids: word ids of the training text.
        targets: word ids to score.
        vocabulary_size: number of ids.
    """
    counts = np.bincount(np.asarray(train_ids).ravel(), minlength=vocabulary_size) + 1.0
    probabilities = counts / counts.sum()
    return float(np.exp(-np.mean(np.log(probabilities[np.asarray(targets).ravel()]))))

"""Shared code of the study notebooks, in three homes:

- `lib.core`: what notebooks call: data sets, models, training runs with their
  cache, histories, plots, attacks, evaluation, searches.
- `lib.studies`: one module per study (`a` ... `e`): its configs, profile
  scales, published numbers, discussion text and CPU estimate.
- `lib.runner`: the machinery that executes the notebooks and publishes their
  reports (runner, up-to-date stamps, tracing, HTML reports, index, Colab
  cells). It never imports Keras.

`paths`, `checks`, `files` and `machine` are small Keras-free helpers that
all three use. Importing `lib` imports nothing else.
"""

"""The notebook machinery: execute the study notebooks and publish their reports.

- `execute`: the runner (`python -m lib.runner`): which notebooks are out of
  date, papermill execution, records, the summary.
- `stamps`: when a report is current (digests of a run's inputs).
- `tracing`: inside a kernel, which files the notebook used and on what it ran.
- `reports`: each executed notebook as HTML, with its provenance.
- `index`: `reports/index.html` (`python -m lib.runner.index`, `make report`).
- `colab`: the Colab badge and setup cell of every notebook.

It asks `lib.studies` what it needs to know about a study and never imports
Keras, so it starts fast when every report is up to date.
"""

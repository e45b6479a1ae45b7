"""The studies, one module each (`a` ... `e`), owning everything about them.

A study module holds its run configs (built from a `Session`), its profile
scales (`PROFILES`), the hours its notebooks take under the full profile on
a CPU (`CPU_HOURS`), its tables and discussion text; optionally `CAVEATS`,
why a profile's numbers cannot be set beside the published ones. Published
numbers are in `published.csv` (`published`), tolerances in
`tolerances.csv`, saved results in `results`.

A notebook or question belongs to the study of its prefix (`a_q1_cnn` and
`a_q1` to `a`). The runner and the index ask here; importing this package
does not import Keras.
"""

from lib.studies import a, b, c, d, e

STUDIES = {"a": a, "b": b, "c": c, "d": d, "e": e}
# Unless a study says otherwise (its CAVEATS). Other profiles are compared
# epoch by epoch where they fall short (lib/studies/reproduction.py).
CAVEATS = {
    "smoke": "smoke profile: a few images and epochs, to test the code",
}


def study_letter(name):
    """The study of notebook or question `name`, by its prefix: "b" for "b_q1_char_cnn" and for "b_q1"."""
    return name.split("_", 1)[0]


def cpu_hours(notebook):
    """Hours `notebook` needs under the full profile on a 2-core CPU (0 for one that only reads other runs, or of no study)."""
    study = STUDIES.get(study_letter(notebook))
    return study.CPU_HOURS.get(notebook, 0.0) if study else 0.0


def caveat(question, profile):
    """Why `question`'s numbers under `profile` cannot be compared with the published ones, or None.

    A study's `shortfall(session, question)`, where it has one, can say more
    from the data it found (`results.shortfall`).
    """
    study = STUDIES.get(study_letter(question))
    return getattr(study, "CAVEATS", {}).get(profile) or CAVEATS.get(profile)

"""Markdown for the notebooks' discussion cells, with every value shown as plain text.

A value that comes from outside the code (a parameter, a data file's class
names, a data directory's path, an error message) may hold `<script>`, an
`onerror=` attribute or a Markdown link to `javascript:`. Formatted into
Markdown as it is, it becomes live markup in Jupyter and in the HTML reports.
`markdown` escapes each value before it goes into the template:

    display(show.markdown("Prompt *{prompt}*, temperature {temperature:.1f}", prompt=prompt, temperature=0.8))
"""

import string

from IPython.display import Markdown

# HTML's special characters and those that start Markdown markup (links, emphasis,
# code, math, tables, headings); each is written as a character reference, which
# both Markdown and HTML show as the character itself.
_SPECIAL = frozenset("&<>\"'\\`*_[]$~|#")


def escape(value):
    """`str(value)` with every character that Markdown or HTML would read as markup escaped.

    Put the result in running text, not in a code span or math, which show
    character references as they are written.
    """
    return "".join(f"&#{ord(character)};" if character in _SPECIAL else character for character in str(value))


class _EscapingFormatter(string.Formatter):
    def format_field(self, value, format_spec):
        return escape(super().format_field(value, format_spec))


def markdown(template, **values):
    """IPython Markdown of `template` filled in with `values`, each escaped (see `escape`).

    Args:
        template: Markdown with `str.format` fields, e.g. "after {epochs} epochs: {accuracy:.4f}".
            It is trusted; only the values are escaped, after their format spec is applied.
        **values: the values of the fields.

    Returns:
        `IPython.display.Markdown`, for `display(...)`.
    """
    return Markdown(_EscapingFormatter().format(template, **values))

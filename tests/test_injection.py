"""Text from parameters, data files, paths and error messages shows as text in every report, never as live markup."""

import datetime
import html.parser
import os
import pickle

import pytest
from nbconvert.filters.markdown import markdown2html

from lib import files, paths
from lib.core import show
from lib.runner import execute, reports

# As a browser runs them; each alert says where it came from.
SCRIPT = "<script>alert({})</script>"
IMAGE = "<img src=x onerror=alert({})>"
LINK = "[click](javascript:alert({}))"


class _Markup(html.parser.HTMLParser):
    """What in a page could run: script elements, on* attributes, javascript: links; and the page's text."""

    def __init__(self, page):
        super().__init__()
        self.live, self.text, self._in_script = [], [], False
        self.feed(page)
        self.close()  # an unclosed <script> holds the rest of the page

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        if self._in_script and not attrs:  # the report template's scripts all have a type or src
            self.live.append("<script>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.live.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert(" in data:
            self.live.append(f"<script>{data[:60]}")
        self.text.append(data)


def _check(page, *shown):
    """Assert that `page` runs none of the payloads and shows each of `shown` as text."""
    markup = _Markup(page)
    assert markup.live == []
    text = "".join(markup.text)
    for payload in shown:
        assert payload in text


def test_markdown_escapes_every_value_and_keeps_format_specs():
    values = {"name": SCRIPT.format(1) + IMAGE.format(2) + LINK.format(3), "code": "`x` *y* $z$ <unk>"}
    text = show.markdown("**{name}** scored {score:.3f} with {code}", score=0.51234, **values).data
    assert text.startswith("**") and "scored 0.512 with" in text
    _check(markdown2html(text), values["name"], values["code"])


def test_provenance_block_keeps_a_value_with_blank_lines_inside_its_html(tmp_path):
    # A history's device goes into the block as it is (parameters go in as their repr, on one line).
    device = f"CPU\n\n{LINK.format(1)} {SCRIPT.format(2)}\r\n\r\n{IMAGE.format(3)}"
    run = tmp_path / "run.json"
    files.write_json(run, {"config": {"seed": 0}, "epoch": [1], "wall_time_s": 1.0, "provenance": {"device": device}})
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    found = reports.provenance(start, start, {"profile": "smoke"}, {"read": [str(run)], "write": [], "list": []})
    _check(markdown2html(reports.provenance_html(found)), LINK.format(1), SCRIPT.format(2), IMAGE.format(3))


@pytest.fixture
def hostile_data(tmp_path):
    """The offline data under a path that holds markup, with markup for CIFAR-10's class names."""
    source = paths.data_dir(os.environ.get("DATA_DIR", ""))
    root = tmp_path / f"data{IMAGE.format(1)}{SCRIPT.format(2).replace('/', '')}"  # no "/" in a name
    cifar, text = root / "cifar-10-batches-py", root / "tinyshakespeare"
    cifar.mkdir(parents=True)
    text.mkdir()
    for folder, name in ((cifar, "data_batch_1"), (cifar, "test_batch"), (text, "input.txt")):
        source_file = source / folder.name / name
        if not source_file.is_file():
            pytest.skip(f"needs the offline data set ({source_file}); set DATA_DIR")
        (folder / name).symlink_to(source_file.resolve())
    names = [(SCRIPT if i % 2 else IMAGE).format(100 + i) for i in range(10)]
    with open(cifar / "batches.meta", "wb") as file:
        pickle.dump({"label_names": names}, file)
    return root


def test_no_report_runs_markup_from_a_parameter_a_data_file_or_a_path(outputs, hostile_data, capsys):
    reports_dir = outputs / "reports"
    common = ["--reports-dir", str(reports_dir), "--quiet", "--profile", "smoke", "--data-dir", str(hostile_data)]
    prompt = f"to be {IMAGE.format(3)} {LINK.format(4)} {SCRIPT.format(5)}"
    assert execute.main([*common, "--only", "a_x_full_data"]) == 0, capsys.readouterr()
    assert execute.main([*common, "--only", "e_q1_cnn_search", "-p", "trials=1"]) == 0, capsys.readouterr()
    assert execute.main([*common, "--only", "e_q2_word_lm_search", "-p", "trials=1", "-p", f"prompt={prompt}"]) == 0, capsys.readouterr()
    # The skip message names the data directory; the discussion names classes; the prompt is shown as given.
    missing = paths.data_dir(str(hostile_data)) / "cifar-10-batches-py" / "data_batch_2"
    _check((reports_dir / "a_x_full_data.html").read_text(), f"Skipped: the five training batches are not available. "
                                                            f"CIFAR-10 file data_batch_2 not found at {missing}")
    e_q1 = (reports_dir / "e_q1_cnn_search.html").read_text()
    _check(e_q1, "the most frequent confusion is <")
    _check((reports_dir / "e_q2_word_lm_search.html").read_text(), f"Prompt {prompt}, temperature 0.8")
    _check((reports_dir / "index.html").read_text(), hostile_data.name)  # the skip reason

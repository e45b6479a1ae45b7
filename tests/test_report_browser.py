"""The index and a report, opened in headless Chromium as a reader would open them.

Needs Chromium (Debian: `apt-get install chromium`; .ci/run installs it) and
the playwright package, which drives the system browser (no browser
download). Without either the test is skipped and says why.
"""

import html
import json
import os
import re
import shutil
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from lib.runner import execute

FIXTURES = Path(__file__).parent / "notebooks"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH = 1366  # the most common laptop screen: every page must fit it without scrolling sideways


def chromium():
    """The path of a Chromium on PATH, or None."""
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def _skip_reason():
    reason = f"no Chromium on PATH (looked for {', '.join(BROWSERS)}; Debian: apt-get install chromium)"
    if os.environ.get("BROWSER_INSTALL_ERROR"):
        reason += f"; CI tried to install it: {os.environ['BROWSER_INSTALL_ERROR']}"
    return reason


def check_page(browser, path, screenshot):
    """Open `path` `WIDTH` px wide and return its problems and its text.

    Problems: console errors, broken images, links to missing files, a page
    wider than the screen. Links to other sites are not followed (the test
    runs offline); links within the page must name an element that exists.
    """
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed to load {request.url}"))
    page.goto(path.as_uri(), wait_until="load")
    broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    problems += [f"broken image: {src[:80]}" for src in broken]
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > WIDTH:
        problems.append(f"wider than the screen: {width} px at a {WIDTH} px window")
    for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
        url = urllib.parse.urlparse(href)
        if url.scheme == "file":
            target = Path(urllib.parse.unquote(url.path))
            if url.fragment and target == path:
                # As browsers do: the fragment as written, else percent-decoded (nbconvert's heading ids keep the escapes).
                found = "ids => ids.some(a => document.getElementById(a) || document.getElementsByName(a).length)"
                if not page.evaluate(found, [url.fragment, urllib.parse.unquote(url.fragment)]):
                    problems.append(f"link to a missing anchor: {href}")
            elif not target.is_file():
                problems.append(f"link to a missing file: {href}")
    page.screenshot(path=str(screenshot), full_page=True)
    text = page.inner_text("body")
    page.close()
    return problems, text


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Reports of a notebook that ran and one that failed, and their index; the data directory outside the repository."""
    root = tmp_path_factory.mktemp("site")
    (root / "data").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("HISTORY_DIR", "CHECKPOINT_DIR", "FIGURE_DIR"):
            patch.setenv(variable, str(root / variable.lower()))
        patch.setattr(execute, "NOTEBOOK_DIR", FIXTURES)
        status = execute.main(["--reports-dir", str(root / "reports"), "--quiet", "--profile", "smoke",
                              "--data-dir", str(root / "data"), "--only", "demo_report", "fails"])
    assert status == 1  # `fails` fails, by design
    return root / "reports"


def test_index_links_the_reports_and_figures_of_a_run(site):
    index = (site / "index.html").read_text()
    assert '<a href="demo_report.html">demo_report</a>' in index
    assert '<a href="../figure_dir/a_q1/demo_curve.png">demo_curve</a>' in index
    assert "(published 0.5475, difference −0.0475)" in index
    assert "<summary>not comparable yet</summary>" in index  # a smoke result, its reason folded
    demo = (site / "demo_report.html").read_text()
    assert 'id="provenance"' in demo and "profile smoke" in demo and "git commit" in demo
    assert "google.colab" not in demo  # the Colab setup cell stays out of reports


def test_reports_are_for_readers(site):
    demo = (site / "demo_report.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", demo))
    executed = (site / "demo_report.ipynb").read_text()
    assert json.dumps(str(site.parent / "data")) in executed  # the runner gave the notebook this machine's paths ...
    assert str(site.parent) not in demo  # ... the report shows none of them
    assert 'data_dir = "…/data"' in text and "data_dir='…/data'" in text  # the parameters cell and the provenance
    outputs = [output for cell in nbformat.reads(executed, as_version=4).cells for output in cell.get("outputs", [])]
    printed = "".join(output.get("text", "") for output in outputs)
    assert "trained 7 models" in printed  # the fixture trained models in a loop ...
    assert "retracing" not in printed and "WARNING" not in printed  # ... and its kernel logged nothing about it
    assert [output for output in outputs if output.get("name") == "stderr"] == []
    shown = printed + "".join(value for output in outputs for value in output.get("data", {}).values() if isinstance(value, str))
    assert "Model cifar_cnn_5_6: 8 layers" in demo and "\x1b[" not in shown  # the model as a table, no ANSI codes
    assert "In&nbsp;[" not in demo  # no prompts
    assert demo.count('<details class="code">') == 7  # every code cell folded: parameters (2), setup, figure, result, model, loop


def test_index_and_reports_open_cleanly_in_chromium(site, tmp_path):
    path = chromium()
    if path is None:
        pytest.skip(_skip_reason())
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (see requirements.txt)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            pages = {name: check_page(browser, site / f"{name}.html", tmp_path / f"{name}.png")
                     for name in ("index", "demo_report", "fails")}
            folded = _folded_code(browser, site / "demo_report.html")
            wide = tmp_path / "wide.html"  # the width check finds what it looks for
            wide.write_text('<div style="width: 2000px">wide</div>')
            too_wide, _ = check_page(browser, wide, tmp_path / "wide.png")
            broken = tmp_path / "broken.html"  # the checks find what they look for
            broken.write_text('<img src="missing.png"><a href="nowhere.html">x</a><a href="#nope">y</a>'
                              '<script>console.error("boom")</script>')
            problems, _ = check_page(browser, broken, tmp_path / "broken.png")
        finally:
            browser.close()
    assert "console: boom" in problems and any("missing.png" in problem for problem in problems)
    assert any(p.startswith("broken image:") for p in problems)
    assert any(p.startswith("link to a missing file:") and p.endswith("nowhere.html") for p in problems)
    assert any(p.startswith("link to a missing anchor:") and p.endswith("#nope") for p in problems)
    for name, (found, _) in pages.items():
        assert found == [], name
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000, name
    assert too_wide == [f"wider than the screen: 2008 px at a {WIDTH} px window"]  # 2000 px and the body's margins
    index_text = pages["index"][1]
    for heading in ("Studies", "Reproduction check", "Provenance"):
        assert heading in index_text
    summary = " ".join(index_text.split("Studies")[0].split())  # the summary comes before the studies table
    fixtures = len(list(FIXTURES.glob("*.ipynb")))  # demo_report ran, fails failed, the others never ran
    assert f"NOTEBOOKS ({fixtures}) 1 ran · 1 failed · 0 skipped · {fixtures - 2} not run" in summary
    assert "PUBLISHED NUMBERS" in summary and "0 reproduced · 0 not reproduced" in summary and "not comparable yet" in summary
    assert folded == {"folded": 7, "open": 0, "code shown": False}
    assert "ValueError: deliberate failure" in index_text
    assert "Provenance: profile smoke" in pages["demo_report"][1]
    assert "deliberate failure" in pages["fails"][1]


def _folded_code(browser, path):
    """How the report at `path` shows its code cells: how many are folded and open, and whether any source is visible."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.goto(path.as_uri(), wait_until="load")
    found = page.evaluate("""() => ({
        folded: document.querySelectorAll('details.code').length,
        open: document.querySelectorAll('details.code[open]').length,
        shown: document.body.innerText.includes('session = runs.setup'),
    })""")
    page.close()
    return {"folded": found["folded"], "open": found["open"], "code shown": found["shown"]}


def test_skip_reason_says_what_was_looked_for_and_why_the_install_failed(monkeypatch):
    monkeypatch.setenv("BROWSER_INSTALL_ERROR", "apt-get install chromium failed: E: Unable to locate package chromium")
    reason = _skip_reason()
    assert reason.startswith("no Chromium on PATH (looked for chromium, chromium-browser, google-chrome")
    assert reason.endswith("CI tried to install it: apt-get install chromium failed: E: Unable to locate package chromium")

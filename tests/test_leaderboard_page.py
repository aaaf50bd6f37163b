"""index.html in headless Chromium: rows rendered, sorting, expanding, filters, no console errors.

Chromium (Debian's ``chromium``; ``.ci/run`` installs it where missing) loads the page from disk
with ``--dump-dom`` (the DOM after its scripts ran) and ``--screenshot``; console messages reach
stderr as ``CONSOLE`` log lines, and the page logs nothing when it works. The test skips when
chromium is absent outside CI; in CI (``CI=true``) it fails instead.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from leaderboard_fixtures import board

from metabnn.leaderboard import build

REPO = Path(__file__).resolve().parents[1]

# Run after the page's own script: sort by accuracy twice, expand a row, filter by hardware,
# and write what the page then shows into <pre id="probe"> for --dump-dom.
PROBE = """<script>
(function () {
  function order(t) { return Array.prototype.filter.call(t.tBodies[0].rows, function (r) {
    return r.classList.contains('row'); }).map(function (r) { return r.cells[1].textContent.trim()
    .replace(/^\\S+\\s*/, ''); }); }
  var t = document.querySelector('table.lb[data-scenario=task]'), out = {};
  out.initial = order(t);
  var th = t.tHead.rows[0].cells[6];
  th.click(); out.ascending = order(t); out.sort = th.getAttribute('aria-sort');
  th.click(); out.descending = order(t);
  var b = t.querySelector('button.more'); b.click();
  var d = document.getElementById(b.getAttribute('aria-controls'));
  out.expanded = !d.hidden && d.querySelectorAll('svg polyline').length;
  out.provenance = d.textContent.indexOf('0123456789abcdef') >= 0;
  var h = document.getElementById('f-hardware'); h.value = 'rram-2t2r/nominal';
  h.dispatchEvent(new Event('change'));
  out.visible = Array.prototype.filter.call(document.querySelectorAll('tr.row'), function (r) {
    return !r.hidden; }).length;
  var p = document.createElement('pre'); p.id = 'probe'; p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
}());
</script>"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium); CI runs this test")
    return exe


def _browse(page: Path, tmp: Path, *args: str) -> tuple[str, list[str]]:
    """(stdout, console lines) of headless chromium on ``page``."""
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--enable-logging=stderr", "--log-level=0", f"--user-data-dir={tmp / 'profile'}",
         "--window-size=1400,1000", *args, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def test_the_console_check_sees_errors(tmp_path):
    """The negative control: a page that throws is caught by the console check."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFn();</script></body></html>")
    _, console = _browse(page, tmp_path, "--dump-dom")
    assert any("undefinedFn" in line for line in console)


def test_fixture_page_renders_sorts_expands_and_filters(tmp_path):
    folder = board(tmp_path / "board")
    build(folder)
    html = (folder / "index.html").read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no network
    assert "https://" not in html and "<link" not in html and " src=" not in html
    page = folder / "probe.html"
    page.write_text(html.replace("</body>", PROBE + "</body>"))
    dom, console = _browse(page, tmp_path, "--dump-dom")
    assert console == []
    probe = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom).group(1))
    assert probe["initial"] == ["joint", "meta", "naive"]  # ranked
    assert probe["ascending"] == ["naive", "meta", "joint"] and probe["sort"] == "ascending"
    assert probe["descending"] == ["joint", "meta", "naive"]
    assert probe["expanded"] == 2 and probe["provenance"]  # two task curves, the commit
    assert probe["visible"] == 1  # only the rram row
    shot = tmp_path / "fixture.png"
    _browse(folder / "index.html", tmp_path, f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


def test_committed_page_shows_every_row_without_errors(tmp_path):
    folder = REPO / "leaderboards"
    rows = sum(len(list(csv.DictReader(p.open()))) for p in folder.glob("*.csv"))
    dom, console = _browse(folder / "index.html", tmp_path, "--dump-dom")
    assert console == []
    assert rows > 0 and dom.count('<tr class="row') == rows
    shot = tmp_path / "leaderboard.png"
    _browse(folder / "index.html", tmp_path, f"--screenshot={shot}", "--window-size=1400,2400")
    assert shot.stat().st_size > 10_000
    _keep_screenshot_fresh(shot, folder / "index.html", folder / "screenshot.png")


SOURCE_KEY = "metabnn-source-sha256"
"""The PNG text chunk of leaderboards/screenshot.png naming the index.html it shows."""


def _source_of(png: Path) -> str | None:
    from PIL import Image

    if not png.exists():
        return None
    with Image.open(png) as im:
        return im.text.get(SOURCE_KEY)


def _keep_screenshot_fresh(shot: Path, page: Path, committed: Path) -> None:
    """leaderboards/screenshot.png shows the committed index.html: it records the page's
    SHA-256; when the page changed, this test writes the new screenshot there and fails, so a
    stale picture is never committed unnoticed (commit the regenerated file)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    digest = hashlib.sha256(page.read_bytes()).hexdigest()
    if _source_of(committed) == digest:
        return
    info = PngInfo()
    info.add_text(SOURCE_KEY, digest)
    with Image.open(shot) as im:
        im.save(committed, pnginfo=info)
    pytest.fail(f"{committed} showed another index.html: regenerated it from the current page; "
                "commit it")


def test_the_screenshot_check_sees_a_stale_screenshot(tmp_path):
    """The negative control: a screenshot of another page is replaced and reported."""
    from PIL import Image

    page = tmp_path / "index.html"
    page.write_text("<!DOCTYPE html><html><body>now</body></html>")
    shot, committed = tmp_path / "new.png", tmp_path / "screenshot.png"
    Image.new("RGB", (4, 4), "white").save(shot)
    Image.new("RGB", (4, 4), "black").save(committed)  # no source recorded: stale
    with pytest.raises(pytest.fail.Exception, match="showed another index.html"):
        _keep_screenshot_fresh(shot, page, committed)
    assert _source_of(committed) == hashlib.sha256(page.read_bytes()).hexdigest()
    _keep_screenshot_fresh(shot, page, committed)  # fresh now: passes

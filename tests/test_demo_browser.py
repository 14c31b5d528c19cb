"""The report as a person sees it: opened in headless Chromium, every image loaded, tables present.

Chromium is Debian's `chromium` package; the test is skipped, saying so, only when it is absent.
A screenshot of the page is saved next to the report (and copied to $MERIDIAN_SCREENSHOT if set).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from meridian.report import write_report
from tests.test_demo_report import PNG_SIGNATURE, build_artifacts

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian `chromium` is not installed "
                                "(apt-get install chromium); the browser check of the report cannot run")

# Appended to a copy of the page: after `load`, record which images decoded and which tables exist.
_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    return {src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0};
  });
  var tables = Array.prototype.map.call(document.querySelectorAll('table'), function (t) { return t.className; });
  var out = document.createElement('pre');
  out.id = 'browser-check';
  out.textContent = JSON.stringify({images: images, tables: tables});
  document.body.appendChild(out);
});
</script>"""


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def _browser_view(index: Path, profile: Path) -> dict:
    check = index.with_name("browser-check.html")
    check.write_text(index.read_text().replace("</body>", _CHECK_SCRIPT + "</body>"))
    done = _chromium(["--virtual-time-budget=10000", "--dump-dom", check.as_uri()], profile)
    match = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, re.S)
    assert match, f"the check script did not run; chromium said: {done.stderr[-800:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _screenshot(index: Path, profile: Path, out: Path) -> Path:
    _chromium([f"--screenshot={out}", "--window-size=1200,5200", index.as_uri()], profile)
    assert out.is_file() and out.read_bytes().startswith(PNG_SIGNATURE)
    if os.environ.get("MERIDIAN_SCREENSHOT"):
        shutil.copyfile(out, os.environ["MERIDIAN_SCREENSHOT"])
    return out


def test_every_image_loads_and_tables_are_present_in_chromium(tmp_path):
    index = write_report(build_artifacts(tmp_path / "in"), tmp_path / "report")
    seen = _browser_view(index, tmp_path / "profile")
    assert len(seen["images"]) == 6
    broken = [img["src"] for img in seen["images"] if not img["ok"]]
    assert broken == []
    assert {"steps", "plan", "bench", "drill", "reproduce"} <= set(seen["tables"])
    _screenshot(index, tmp_path / "profile", tmp_path / "report-screenshot.png")


def test_chromium_sees_a_broken_image(tmp_path):
    """The check can fail: a figure that is not an image is reported as not loaded."""
    inputs = build_artifacts(tmp_path / "in")
    bogus = tmp_path / "in" / "artifacts" / "topology.png"
    bogus.write_text("this is not a PNG")
    index = write_report(replace(inputs, diagram=bogus), tmp_path / "report")
    seen = _browser_view(index, tmp_path / "profile")
    assert [img["src"] for img in seen["images"] if not img["ok"]] == ["figures/topology.png"]

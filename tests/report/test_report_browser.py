"""report.html as a person sees it: rendered by headless Chromium (Debian's ``chromium`` package).

The page is opened twice: ``--dump-dom`` on a copy with a tiny inline script appended (the report itself has no
JavaScript) that records every section heading's rendered height and every ``<img>``'s natural size, and
``--screenshot`` of the page itself, checked not to be blank. Skipped when chromium is not installed
(``.ci/run`` installs it: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from voxquant.report.html import write_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")

_PROBE = """<script>
window.addEventListener('load', () => {
  const r = {
    headings: [...document.querySelectorAll('section h2')].map(h => [h.textContent, h.getBoundingClientRect().height]),
    images: [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight,
                                           i.getBoundingClientRect().width]),
    outliers: document.querySelectorAll('td.outlier').length,
  };
  const pre = document.createElement('pre');
  pre.id = 'vq-probe';
  pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
           "--disable-dev-shm-usage", "--virtual-time-budget=10000", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    """A report with every built-in section, one outlier class and an extra section with a figure and a table."""
    from voxquant.quant.sensitivity import sensitivity_blocks
    from voxquant.report.sections import section, table, text

    r = copy.deepcopy(results)
    v = next(v for v in r["variants"] if v["name"] == "int8_static_minmax")
    v["per_class"]["up"]["frr"], v["per_class"]["up"]["recall"] = 0.59, 0.41
    row = {"_worst": 1.2, "_worst_slice": "noise_snr0", "_mean": 0.4, "_kl": 0.02}
    sens = {"layers": [{"node": f"n{i}", "op": "Conv", "layer": f"block{i}.conv", "only": row, "exclude": row}
                       for i in range(4)], "int8": row, "slices": ["clean", "noise_snr0"], "n": 48}  # fmt: skip
    r["sections"] = [
        section("Per-layer sensitivity", sensitivity_blocks(sens, None)),
        section("Int8 kernel check", [text("Each static int8 variant runs twice."),
                                      table(["variant", "agreement %"], [["int8_static_minmax", "99.0"]],
                                            highlight=[[0, 1]])]),
    ]
    out = tmp_path_factory.mktemp("browser")
    page = write_html(r, out / "report.html")
    return r, page


def test_every_heading_and_figure_shows(report):
    r, page = report
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    res = _chromium("--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="vq-probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"chromium printed no probe result (rc {res.returncode}): {res.stderr[-800:]}"
    import html as _html

    got = json.loads(_html.unescape(m.group(1)))
    titles = [t for t, _ in got["headings"]]
    expect = ["Recommendation", "Accuracy, latency and size", "Accuracy drop per slice", "Confusion matrices (clean eval)",
              "Per-class false-reject and false-accept rates (clean eval)", "Provenance and statistics",
              "Per-layer sensitivity", "Int8 kernel check"]  # fmt: skip
    assert titles == expect
    assert all(h > 10 for _, h in got["headings"]), got["headings"]  # laid out with a real height
    # Pareto, slice drops, confusion matrices + the sensitivity figure drawn from its data
    assert len(got["images"]) == 4
    for alt, complete, w, h, shown in got["images"]:
        assert complete and w > 200 and h > 100 and shown > 200, (alt, w, h, shown)
    assert got["outliers"] == 1


def test_screenshot_is_not_blank(report):
    from matplotlib.image import imread

    _, page = report
    shot = page.with_name("report.png")
    res = _chromium(f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri())
    assert shot.is_file(), f"no screenshot (rc {res.returncode}): {res.stderr[-800:]}"
    img = imread(str(shot))  # float RGB(A) in [0, 1]
    assert img.shape[0] == 4000 and img.shape[1] == 1280
    rgb = img[..., :3]
    # a blank page is one colour; the report has text, tables and colourful figures
    colours = np.unique((rgb[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200
    ink = np.any(np.abs(rgb - rgb[0, 0]) > 0.05, axis=-1) & np.any(np.abs(rgb - 1.0) > 0.05, axis=-1)
    assert ink.mean() > 0.03  # text, table shading and figures: neither the page background nor white cards
    rows_with_ink = np.mean(ink.any(axis=1))
    assert rows_with_ink > 0.5  # content down the whole viewport, not one block at the top

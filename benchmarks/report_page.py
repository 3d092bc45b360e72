"""The report page as a reader sees it: report.html rendered by headless Chromium into a PNG, with
the rendered colours checked — verdict badges (holds green, does not hold red, inconclusive grey),
the best value's cell marked, each where the page has one — so that a page whose style did not
apply fails — and the tables measured in the browser's layout at the window's width: every table
shown open (the key columns of each dataset, the claims) must fit without scrolling sideways.
Skips (exit 0, says so) where no
Chromium is installed (Debian: apt-get install chromium); tests/test_report_page.py runs it.

    python benchmarks/report_page.py REPORT.html [--out shot.png] [--size 1400,2400]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Rendered colours (RGB) of report/html.py's STYLE, each with the class whose elements show it.
COLOURS = {
    "badge holds": ((227, 244, 230), "badge holds"),
    "badge does not hold": ((251, 230, 230), "badge fails"),
    "badge inconclusive": ((241, 241, 243), "badge open"),
    "best value": ((234, 246, 236), " best'"),
}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def browser() -> str | None:
    return next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )


def screenshot(page: Path, out: Path, size: str = "1400,2400") -> Path:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                f"--window-size={size}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return out


# Appended to a copy of the page: after layout, writes each open table's heading and whether it
# is wider than its box (it would scroll sideways) into the DOM, which --dump-dom prints.
MEASURE = """<script>window.addEventListener('load', () => {
  const rows = [...document.querySelectorAll('div.scroll')].filter(d => !d.closest('details')).map(d => {
    let h = d.previousElementSibling; while (h && !/^H[23]$/.test(h.tagName)) h = h.previousElementSibling;
    return (h ? h.textContent : '?') + '\\t' + (d.scrollWidth > d.clientWidth ? 'scrolls' : 'fits');
  });
  const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = rows.join('\\n');
  document.body.appendChild(pre);
});</script>"""


def tables_fit(page: Path, size: str = "1400,2400") -> dict[str, bool]:
    """heading → whether its open table fits the page's width, laid out by Chromium at `size`."""
    import html
    import re

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "page.html"
        copy.write_text(page.read_text(encoding="utf-8").replace("</main>", "</main>" + MEASURE), encoding="utf-8")
        dom = subprocess.run(
            [
                browser(),
                *FLAGS,
                f"--user-data-dir={folder}/profile",
                f"--window-size={size}",
                "--dump-dom",
                copy.as_uri(),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    found = re.search(r"<pre id=\"measured\">(.*?)</pre>", dom, re.S)
    lines = html.unescape(found.group(1)).splitlines() if found else []
    return {line.split("\t")[0]: line.endswith("fits") for line in lines}


def colours_seen(png: Path, html: str) -> dict[str, bool]:
    """For each styled element the page has (its class in `html`): whether its colour was rendered."""
    from PIL import Image

    pixels = {rgb for _, rgb in Image.open(png).convert("RGB").getcolors(maxcolors=2**24)}
    return {name: rgb in pixels for name, (rgb, marker) in COLOURS.items() if marker in html}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report_page.png"))
    parser.add_argument("--size", default="1400,2400")
    options = parser.parse_args()
    if browser() is None:
        print("skipped: no Chromium here (apt-get install chromium)")
        return 0
    seen = colours_seen(screenshot(options.page, options.out, options.size), options.page.read_text(encoding="utf-8"))
    for name, found in seen.items():
        print(f"{name:22} {'rendered' if found else 'MISSING'}")
    fit = tables_fit(options.page, options.size)
    for heading, fits in fit.items():
        print(f"table {heading[:60]:60} {'fits' if fits else 'SCROLLS SIDEWAYS'} at {options.size.split(',')[0]} px")
    print(f"screenshot: {options.out}")
    return 0 if seen and all(seen.values()) and fit and all(fit.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

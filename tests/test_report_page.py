"""report.html (report/html.py): its structure — a header of what it is made of, text left and
numbers right, the best value of each metric column marked, verdict badges, plot headings in
words, nothing outside the page — and, where Chromium is installed, the page rendered
(benchmarks/report_page.py: the styled colours must show in the screenshot)."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.report.html import plot_title, table
from tests.conftest import TINY

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import report_page  # noqa: E402


class Cells(HTMLParser):
    """(tag, class, text) of every th/td, and every src/href of the page."""

    def __init__(self):
        super().__init__()
        self.cells, self.links, self._open = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        if tag in ("td", "th"):
            self._open = [tag, attrs.get("class", ""), ""]
        elif tag == "span" and self._open:
            self._open[1] += " badge:" + attrs.get("class", "")

    def handle_data(self, data):
        if self._open:
            self._open[2] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._open:
            self.cells.append(tuple(self._open))
            self._open = None


def parsed(text: str) -> Cells:
    cells = Cells()
    cells.feed(text)
    return cells


def test_text_left_numbers_right_and_the_best_of_each_metric_column_marked():
    shown = pd.DataFrame(
        {
            "model": ["gru", "lstm", "rnn"],
            "params": ["50,817", "67,713", "17,025"],
            "test mse ↓": ["0.1625 ± 0.0088", "0.1715 ± 0.0036", "—"],
            "test accuracy ↑": ["0.91 ± 0.01", "0.95 ± 0.02", "0.50"],
            "stopped": ["plateau", "", "max_steps"],
        }
    )
    cells = parsed(table(shown)).cells
    header = {text: cls for tag, cls, text in cells if tag == "th"}
    assert header == {
        "model": "text",
        "params": "num",
        "test mse ↓": "num",
        "test accuracy ↑": "num",
        "stopped": "text",
    }
    best = [text for tag, cls, text in cells if "best" in cls.split()]
    assert best == ["0.1625 ± 0.0088", "0.95 ± 0.02"]  # least MSE, most accuracy; "—" is no value


def test_verdicts_are_badges_and_plot_headings_are_words():
    claims = pd.DataFrame({"claim": ["a", "b", "c"], "verdict": ["holds", "does not hold", "inconclusive"]})
    badges = [cls for tag, cls, text in parsed(table(claims, verdicts="verdict")).cells if "badge:" in cls]
    assert [b.split("badge:")[1] for b in badges] == ["badge holds", "badge fails", "badge open"]
    assert plot_title("curves_adding") == "Learning curves (validation, mean and range over seeds) — adding"
    assert plot_title("eval_lengths_text") == "At other lengths than trained (rnnbench eval) — text"
    assert plot_title("bench_0") == "Throughput against sequence length"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A small sweep's report: lstm and gru, two seeds; the plots also as PDF."""
    from rnnbench import cli

    where = tmp_path_factory.mktemp("page")
    assert cli.main(["train", "-m", "model=lstm,gru", "seed=0,1", *TINY, f"hydra.sweep.dir={where / 'sw'}"]) == 0
    assert cli.main(["report", str(where / "sw"), "--format", "pdf"]) == 0
    return where / "sw" / "report"


@pytest.mark.slow
def test_the_page_is_self_contained_with_a_header_of_what_it_is(report):
    text = (report / "report.html").read_text()
    cells = parsed(text)
    assert all(link.startswith("data:image/png;base64,") for link in cells.links)  # no file or address outside
    for label in ("command", "made", "on", "records"):
        assert f"<dt>{label}</dt>" in text
    assert re.search(r"<dd>4 runs \(4 completed, 0 failed\); 0 records skipped — trained with torch 2\.13", text)
    headings = re.findall(r"<h3>(.*?)</h3>", text)
    assert headings and not any(re.fullmatch(r"\w+_\w+", h) for h in headings)  # words, not file stems
    assert "badge holds" in text  # LSTM has more parameters than GRU
    assert (report / "curves_adding.pdf").read_bytes().startswith(b"%PDF")


def test_one_colour_per_model_in_every_plot():
    from rnnbench.report import plots

    with plots.style(["rnn", "lstm", "gru"]):
        assert plots.colour("gru") == plots.PALETTE[0] and plots.colour("rnn") == plots.PALETTE[2]
        assert [c for c, _ in plots._styles_by_model(["gru", "gru", "lstm"])] == [plots.PALETTE[0]] * 2 + [
            plots.PALETTE[1]
        ]
        assert [s for _, s in plots._styles_by_model(["gru", "gru"])] == ["-", "--"]  # one model's groups: line style
        markers = [plots.marker(m) for m in ("gru", "lstm", "rnn")]
        assert len(set(markers)) == 3  # curves that coincide (models at the baseline) stay told apart
    assert plots.colour("gru") == plots.PALETTE[sum(map(ord, "gru")) % len(plots.PALETTE)]  # outside a report: by name


@pytest.mark.slow
@pytest.mark.skipif(report_page.browser() is None, reason="no Chromium here (apt-get install chromium)")
def test_the_page_renders_styled_in_a_real_browser(report, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "report_page.py"),
            str(report / "report.html"),
            "--out",
            str(tmp_path / "shot.png"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "MISSING" not in out.stdout and (tmp_path / "shot.png").stat().st_size > 10_000


def test_the_key_columns_come_first_and_the_whole_table_one_click_below(tmp_path):
    """At a laptop's width a reader sees, per dataset: the group, params, the primary test metric
    with its interval, the baseline, solved, seeds, failed; everything else is under <details>;
    the claims come with how they are decided."""
    from rnnbench.report import CLAIMS_LEGEND, write_report
    from tests.test_report import fake_run

    root = tmp_path / "runs"
    for seed in range(2):
        for model, mse in (("gru", 0.01), ("lstm", 0.02)):
            fake_run(root, f"{model}{seed}", model, seed, mse + seed / 1000, steps_to_target=400)
    write_report([root], tmp_path / "out")
    text = (tmp_path / "out" / "report.html").read_text()
    shown, details = text.split("<details>", 1)
    heads = [t for tag, _, t in parsed(shown.split("<h2>adding")[1]).cells if tag == "th"]
    assert heads == [
        "model",
        "params",
        "test mse ↓",
        "test mse 95% CI",
        "baseline mse (predict 1.0)",
        "solved (val mse ≤ 0.01)",
        "seeds",
        "failed",
    ]
    full = [t for tag, _, t in parsed(details.split("</details>")[0]).cells if tag == "th"]
    assert full[: len(heads)] != heads and set(heads) < set(full) and "train tokens/s" in full
    assert re.search(r"<summary>All \d+ columns \(adds core params, FLOPs/token, train tokens/s", details)
    import html

    assert html.escape(CLAIMS_LEGEND) in text

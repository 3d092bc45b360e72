"""report.html: one self-contained page to read and to publish (no file beside it, no network).

A header says what the page is made of (the command, when, on which machine and torch, how many
records) and how to read the numbers. Each dataset's table shows its key columns (tables.key_columns:
the group, params, the primary test metric ± std and its interval, the baseline, solved, seeds) so
that they fit a laptop's width, with the whole table one click below; the claims come with how
they are decided. Each table has its text left-aligned and its numbers right-aligned, and in every metric
column (one with ↓ or ↑) the best group's value is marked; claim verdicts are badges coloured by
what they say; plots are embedded (PNG data URIs) under headings in words. tests/test_report_page.py
checks the page's structure, and benchmarks/report_page.py renders it in headless Chromium.
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

import pandas as pd

VERDICT_CLASS = {
    "holds": "holds",
    "does not hold": "fails",
    "equivalent": "same",
    "inconclusive": "open",
    "neither learned": "open",
    "too few seeds": "open",
}
# Plot file stems → what they show, for the headings (the dataset follows).
PLOT_TITLES = {
    "curves": "Learning curves (validation, mean and range over seeds)",
    "length": "Test metric against sequence length",
    "eval_lengths": "At other lengths than trained (rnnbench eval)",
    "pareto": "Test metric against size and training speed, with the Pareto front",
    "grads": "Gradient norm ‖∂L/∂h_t‖ against t",
    "by_length": "Accuracy against input length (mean over seeds, band from the worst seed to the best)",
    "bench": "Throughput against sequence length",
    "league_cd": "The league across settings: average ranks and the Nemenyi critical difference",
}
WRAPPED = ("claim", "evidence", "reason")  # columns of sentences; every other cell keeps to one line
NUMBER = re.compile(r"^[\[(]?[-+−]?(\d[\d,]*\.?\d*(e[-+]?\d+)?|\.\d+|—|nan|inf)")

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;margin:0;background:#f6f7f9}
main{max-width:1280px;margin:0 auto;padding:24px 32px 64px;background:#fff}
header{border-bottom:2px solid #e3e6eb;margin-bottom:18px}
h1{font-size:26px;margin:0 0 6px}h2{font-size:20px;margin:34px 0 10px}h3{font-size:16px;margin:26px 0 8px;color:#333}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:10px 0 14px;font-size:13px}
dl.meta dt{color:#667}dl.meta dd{margin:0;font-family:ui-monospace,Menlo,monospace}
p.legend{color:#444;font-size:13px;max-width:1000px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:4px 0 8px}
th,td{border-bottom:1px solid #e3e6eb;padding:5px 9px;vertical-align:top;white-space:nowrap}
th{background:#f0f2f5;text-align:left;font-weight:600;white-space:normal;min-width:4em}
td.text,th.text{text-align:left}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:700;background:#eaf6ec}td.best::after{content:" ★";color:#2e7d32;font-size:11px}
tr:hover td{background:#fafbfc}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.badge.holds{background:#e3f4e6;color:#1b6b2a;border:1px solid #a8d8b2}
.badge.fails{background:#fbe6e6;color:#9b1c1c;border:1px solid #efb0b0}
.badge.same{background:#e4eefb;color:#1d4f91;border:1px solid #a9c4ea}
.badge.open{background:#f1f1f3;color:#555;border:1px solid #d0d0d6}
td.wrap{white-space:normal;min-width:16em;max-width:520px;color:#333}
details{margin:2px 0 10px;font-size:13px}summary{cursor:pointer;color:#445}
figure{margin:10px 0 22px}figure img{max-width:100%;border:1px solid #e3e6eb}
ul.problems li{font-family:ui-monospace,Menlo,monospace;font-size:12px}
"""


def page(
    title: str,
    meta: dict[str, str],
    legend: str,
    sections: list[tuple[str, pd.DataFrame, list[str]]],
    claims: pd.DataFrame,
    claims_legend: str,
    images: list[Path],
    lists: list[tuple[str, list[str]]],
) -> str:
    """The page. `sections`: (heading, display table, its key columns): the key columns are shown,
    the whole table is behind a <details> under them; `lists`: (heading, lines) such as failed runs."""
    parts = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><main><header>",
        f"<h1>{html.escape(title)}</h1><dl class='meta'>",
        *(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in meta.items()),
        f"</dl><p class='legend'>{html.escape(legend)}</p></header>",
    ]
    for heading, shown, keys in sections:
        parts += [f"<h2>{html.escape(heading)}</h2>", table(shown[keys] if keys else shown)]
        if keys and len(keys) < shown.shape[1]:
            rest = ", ".join(c for c in shown.columns if c not in keys)
            parts.append(
                f"<details><summary>All {shown.shape[1]} columns (adds {html.escape(rest)})</summary>"
                f"{table(shown)}</details>"
            )
    if len(claims):
        parts += [
            "<h2>Claims</h2>",
            f"<p class='legend'>{html.escape(claims_legend)}</p>",
            table(claims, verdicts="verdict"),
        ]
    for image in images:
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        parts.append(
            f"<figure><h3>{html.escape(plot_title(image.stem))}</h3>"
            f"<img alt='{html.escape(plot_title(image.stem))}' src='data:image/png;base64,{data}'></figure>"
        )
    for heading, lines in lists:
        if lines:
            parts.append(
                f"<h2>{html.escape(heading)}</h2><ul class='problems'>"
                + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
                + "</ul>"
            )
    return "\n".join([*parts, "</main></html>"]) + "\n"


def table(shown: pd.DataFrame, verdicts: str | None = None) -> str:
    """A display table (strings) as HTML: a column is numeric if all its filled cells read as
    numbers; the best cell of each metric column (↓: least, ↑: most, by its leading number) is
    marked; `verdicts` names a column shown as badges."""
    numeric = {c: _is_numeric(shown[c]) for c in shown.columns}
    best = {
        c: _best_row(shown[c], "min" if "↓" in str(c) else "max")
        for c in shown.columns
        if ("↓" in str(c) or "↑" in str(c))
    }
    head = "".join(f"<th class='{'num' if numeric[c] else 'text'}'>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for i, (_, row) in enumerate(shown.iterrows()):
        cells = []
        for c in shown.columns:
            text = "" if _missing(row[c]) else str(row[c])
            classes = (
                ["num" if numeric[c] else "text"]
                + (["best"] if best.get(c) == i else [])
                + (["wrap"] if c in WRAPPED else [])
            )
            if c == verdicts:
                body = f"<span class='badge {VERDICT_CLASS.get(text, 'open')}'>{html.escape(text)}</span>"
            else:
                body = html.escape(text)
            cells.append(f"<td class='{' '.join(classes)}'>{body}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def plot_title(stem: str) -> str:
    """'curves_adding' → 'Learning curves … — adding'."""
    for prefix in sorted(PLOT_TITLES, key=len, reverse=True):
        if stem == prefix or stem.startswith(prefix + "_"):
            rest = stem[len(prefix) + 1 :]
            return PLOT_TITLES[prefix] + (f" — {rest}" if rest and not rest.isdigit() else "")
    return stem.replace("_", " ")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_numeric(column: pd.Series) -> bool:
    filled = [str(v) for v in column if not _missing(v) and str(v) != ""]
    return bool(filled) and all(NUMBER.match(v.strip()) for v in filled)


def _leading(value) -> float:
    match = NUMBER.match(str(value).strip()) if not _missing(value) else None
    if not match or match.group(1) in ("—", "nan", "inf"):
        return math.nan
    return float(match.group(1).replace(",", "").replace("−", "-"))


def _best_row(column: pd.Series, direction: str) -> int | None:
    values = [_leading(v) for v in column]
    finite = [(v, i) for i, v in enumerate(values) if not math.isnan(v)]
    if len(finite) < 2:
        return None
    return (min(finite) if direction == "min" else max(finite))[1]

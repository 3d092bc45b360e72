"""`rnnbench report`: run records → comparison tables (Markdown, CSV, HTML) and plots.

    collect.py  find and load records (pandas)
    tables.py   group, aggregate over seeds, format
    plots.py    learning curves (matplotlib)
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from rnnbench.record import atomic_write_text
from rnnbench.report.collect import Runs, load_runs
from rnnbench.report.plots import plot_learning_curves
from rnnbench.report.tables import display_table, summarize


def write_report(paths: list[Path], out: Path | None = None) -> str:
    """Write report.md, report.csv (one row per group), runs.csv (one row per run), report.html
    and curves_<dataset>.png into `out` (default: <first path>/report). Returns the Markdown."""
    runs = load_runs(paths)
    out = out or paths[0] / "report"
    out.mkdir(parents=True, exist_ok=True)
    sections, csv_parts, images = [], [], []
    for dataset, members in runs.runs.groupby("dataset", sort=True):
        table, keys, directions = summarize(members)
        done = members[members["status"] == "completed"]
        first = (done if len(done) else members).iloc[0]  # a failed run's record may lack the task's details
        primary = first["primary_metric"] if isinstance(first["primary_metric"], str) else next(iter(directions), None)
        solved_at = members["solved_at"].dropna()
        shown = display_table(table, keys, directions, str(first["baseline_name"]),
                              solved_at.iloc[0] if len(solved_at) else None, primary,
                              "frames" if first.get("kind") == "frames" else "tokens")
        sections.append((dataset, _setting(members, keys), shown, 1 + len(keys)))
        csv_parts.append(table.assign(dataset=dataset))
        if primary:
            image = plot_learning_curves(members, runs.curves, keys, primary, str(first["baseline_name"]),
                                         f"{dataset}{_setting(members, keys)}", out / f"curves_{dataset}.png")
            if image:
                images.append(image)
    markdown = _markdown(runs, paths, sections, images)
    atomic_write_text(out / "report.md", markdown)
    summary = pd.concat(csv_parts, ignore_index=True) if csv_parts else pd.DataFrame()
    atomic_write_text(out / "report.csv", summary.to_csv(index=False))
    atomic_write_text(out / "runs.csv", runs.runs.to_csv(index=False))
    atomic_write_text(out / "report.html", _html(runs, sections, images))
    return markdown + f"\nWritten to {out}/ (report.md, report.csv, runs.csv, report.html"\
        + "".join(f", {p.name}" for p in images) + ")\n"


def _setting(members: pd.DataFrame, keys: list[str]) -> str:
    """The dataset's sequence length in the section title, unless it is a grouping column."""
    column = "hp.dataset.seq_len"
    if "dataset.seq_len" in keys or column not in members:
        return ""
    values = members[column].dropna().unique()
    if len(values) != 1:
        return ""
    value = values[0]
    return f" (T={int(value) if isinstance(value, float) and value.is_integer() else value})"


def _counts(runs: Runs) -> str:
    status = runs.runs["status"].value_counts() if len(runs.runs) else {}
    return (f"{len(runs.runs)} runs ({status.get('completed', 0)} completed, {status.get('failed', 0)} failed); "
            f"{len(runs.skipped)} records skipped")


def _markdown(runs: Runs, paths: list[Path], sections, images) -> str:
    lines = ["# rnnbench report", "", f"{_counts(runs)} — from {', '.join(map(str, paths))}.",
             "Test metrics are mean ± sample std over seeds; the baseline is measured on the same test data.", ""]
    for dataset, setting, shown, labels in sections:
        align = ["left"] * labels + ["right"] * (shown.shape[1] - labels)  # labels left, numbers right
        lines += [f"## {dataset}{setting}", "",
                  shown.to_markdown(index=False, disable_numparse=True, colalign=align), ""]
    failed = runs.runs[runs.runs["status"] == "failed"] if len(runs.runs) else []
    if len(failed):
        lines += ["Failed runs:", *[f"- {r.dir}: {r.reason}" for r in failed.itertuples()], ""]
    for title, notes in (("Skipped", runs.skipped), ("Warnings", runs.warnings)):
        if notes:
            lines += [f"{title}:", *[f"- {note}" for note in notes], ""]
    return "\n".join(lines)


def _html(runs: Runs, sections, images) -> str:
    """One self-contained page: tables and the plots embedded as data URIs."""
    parts = ["<!doctype html><meta charset='utf-8'><title>rnnbench report</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>",
             f"<h1>rnnbench report</h1><p>{html.escape(_counts(runs))}. Test metrics: mean ± sample std over seeds.</p>"]
    for dataset, setting, shown, _ in sections:
        parts += [f"<h2>{html.escape(dataset + setting)}</h2>", shown.to_html(index=False)]
    for image in images:
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        parts.append(f"<h3>{html.escape(image.stem)}</h3><img src='data:image/png;base64,{data}'>")
    for title, items in (("Failed runs", [f"{r.dir}: {r.reason}" for r in runs.runs.itertuples()
                                          if r.status == "failed"] if len(runs.runs) else []),
                         ("Skipped", runs.skipped), ("Warnings", runs.warnings)):
        if items:
            parts.append(f"<h2>{title}</h2><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
    return "\n".join(parts) + "\n"


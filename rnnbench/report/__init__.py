"""`rnnbench report`: run records → comparison tables (Markdown, CSV, LaTeX, HTML) and plots.

    collect.py  find, load and filter records (pandas)
    tables.py   group, aggregate over seeds, format
    stats.py    intervals and Welch's t-test over seeds
    plots.py    learning curves, metric vs T, Pareto fronts, ‖∂L/∂h_t‖ vs t (matplotlib)
    claims.py   the folk claims, each with a verdict computed from the runs that bear on it
    published.py  a study's published numbers (paper and table) beside the measured ones
    league.py   each setting's models ranked, and ranked across settings (Friedman, Nemenyi, CD diagram)
Results of `rnnbench bench` (bench.csv) found under the paths get their own sections.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from rnnbench.errors import UserError, cannot_write
from rnnbench.report.claims import COLUMNS as CLAIM_COLUMNS
from rnnbench.report.claims import display_claims, judge_claims, load_claims
from rnnbench.report.collect import Runs, filter_runs, find_benches, load_runs, searches, set_trials_aside
from rnnbench.report.plots import (
    FORMATS,
    plot_accuracy_by_length,
    plot_eval_lengths,
    plot_grad_per_time_step,
    plot_learning_curves,
    plot_metric_vs_length,
    plot_pareto,
    style,
)
from rnnbench.report.published import beside_published, display_published, read_published
from rnnbench.report.tables import display_table, key_columns, summarize
from rnnbench.training.record import atomic_write_text


def write_report(
    paths: list[Path],
    out: Path | None = None,
    where: list[str] = (),
    group_by: list[str] | None = None,
    metrics: list[str] | None = None,
    include_running: bool = False,
    formats: tuple[str, ...] = (),
    command: str | None = None,
    claims_file: Path | None = None,
) -> str:
    """Write report.md, report.csv (one row per group), runs.csv (one row per run), report.tex,
    report.html (everything, plots embedded) and the plots into `out` (default: <first
    path>/report). Returns the Markdown.

    `where`: KEY=VALUE[,VALUE] filters; `group_by`: config keys that split groups instead of the
    detected ones; `metrics`: which of the task's metrics to show and plot (default: all; plots use
    the first); `include_running`: runs still training too (their curves so far; the tables count
    them as running); `formats`: the plots also as svg and/or pdf (for papers); `command`: for the
    HTML page's header; `claims_file`: a YAML file of claims to decide instead of the folk ones
    (report/claims.py)."""
    chosen = load_claims(claims_file) if claims_file is not None else None
    runs = load_runs(paths, include_running)
    if where:
        runs = filter_runs(runs, list(where))
    runs, trials = set_trials_aside(runs)
    tuning = searches(paths)
    out = out or paths[0] / "report"
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UserError(f"--format {' '.join(bad)}: choose from {', '.join(FORMATS)} (PNG is always written)")
    models = list(runs.runs["model"].dropna().astype(str)) if len(runs.runs) else []
    with style(models, formats), staged(out) as stage:
        sections, csv_parts, images = _dataset_sections(runs, group_by, metrics, stage)
        claims = judge_claims(runs.runs, chosen) if len(runs.runs) else pd.DataFrame(columns=CLAIM_COLUMNS)
        atomic_write_text(stage / "claims.csv", claims.to_csv(index=False))
        claims = display_claims(claims)
        league_sections, image = _league_sections(runs.runs, stage)
        sections += league_sections
        images += [image] if image else []
        benches = [_bench_section(folder, stage / f"bench_{i}.png") for i, folder in enumerate(find_benches(paths))]
        images += [plot for _, plot in benches if plot]
        sections += [(title, "", table, 5) for tables, _ in benches for title, table in tables]
        published = beside_published(runs.runs, read_published(paths))
        if len(published):
            atomic_write_text(stage / "published.csv", published.to_csv(index=False))
            sections.append(("Beside the published numbers", "", display_published(published), 5))
        if len(tuning):
            atomic_write_text(stage / "tuning.csv", tuning.to_csv(index=False))
            what = (
                f"{trials} trials set aside (validation only; the tables above and the claims use the fresh-seed runs)"
                if trials
                else "its trials are the runs above (validation only)"
            )
            sections.append(
                (
                    f"Tuning: {len(tuning)} search{'es' if len(tuning) > 1 else ''}, {what}",
                    "",
                    _relative(tuning, paths),
                    2,
                )
            )
        markdown = _markdown(runs, paths, sections, images, claims)
        atomic_write_text(stage / "report.md", markdown)
        summary = pd.concat(csv_parts, ignore_index=True) if csv_parts else pd.DataFrame()
        atomic_write_text(stage / "report.csv", summary.to_csv(index=False))
        atomic_write_text(stage / "runs.csv", runs.runs.to_csv(index=False))
        atomic_write_text(stage / "report.tex", _latex(sections, claims))
        atomic_write_text(stage / "report.html", _html(runs, paths, sections, images, claims, command))
    return (
        markdown
        + f"\nWritten to {out}/ (report.md, report.csv, runs.csv, claims.csv, league.csv, report.tex, report.html"
        + "".join(f", {p.name}" for p in images)
        + "".join(f", {p.stem}.{f}" for f in formats for p in images)
        + ")\n"
    )


@contextlib.contextmanager
def staged(out: Path):
    """A folder inside `out` to write a report into; its files replace those of `out` only when
    all of them were written: a full disk (or any other write error) leaves the previous report
    whole, no empty PNG and no empty `out` made for it, and ends in one line naming `out`."""
    try:
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    except OSError as exc:
        raise cannot_write(OSError(exc.errno, exc.strerror, str(out)), "--out DIR") from None
    try:
        yield stage
        for path in stage.iterdir():
            os.replace(path, out / path.name)
    except OSError as exc:  # the stage's file names mean nothing to the reader: `out` is named
        if made:
            shutil.rmtree(out, ignore_errors=True)
        error = cannot_write(OSError(exc.errno, exc.strerror, str(out)), "--out DIR")
        raise UserError(f"{error}{'' if made else '; the report that was there is unchanged'}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _dataset_sections(runs: Runs, group_by, metrics, folder: Path):
    """For each dataset: its section (title, setting, table, label columns), its numeric table and
    its plots (written into `folder`)."""
    sections, csv_parts, images = [], [], []
    for dataset, members in runs.runs.groupby("dataset", sort=True) if len(runs.runs) else []:
        table, keys, directions = summarize(members, group_by, metrics)
        done = members[members["status"] == "completed"]
        first = (done if len(done) else members).iloc[0]  # a failed run's record may lack the task's details
        primary = first["primary_metric"] if isinstance(first["primary_metric"], str) else None
        primary = primary if primary in directions else next(iter(directions), None)
        solved_at = members["solved_at"].dropna()
        unit = "frames" if first.get("kind") == "frames" else "tokens"
        shown = display_table(
            table,
            keys,
            directions,
            str(first["baseline_name"]),
            solved_at.iloc[0] if len(solved_at) else None,
            primary,
            unit,
        )
        sections.append((dataset, _setting(members, keys), shown, 1 + len(keys)))
        csv_parts.append(table.assign(dataset=dataset))
        if primary:
            title, direction, stem = f"{dataset}{_setting(members, keys)}", directions[primary], file_stem(dataset)
            images += [
                image
                for image in (
                    plot_learning_curves(
                        members,
                        runs.curves,
                        keys,
                        primary,
                        str(first["baseline_name"]),
                        title,
                        folder / f"curves_{stem}.png",
                    ),
                    plot_metric_vs_length(
                        table,
                        keys,
                        primary,
                        direction,
                        str(first["baseline_name"]),
                        title,
                        folder / f"length_{stem}.png",
                    ),
                    plot_eval_lengths(
                        table,
                        keys,
                        primary,
                        direction,
                        str(first["baseline_name"]),
                        title,
                        folder / f"eval_lengths_{stem}.png",
                    ),
                    plot_pareto(table, keys, primary, direction, unit, title, folder / f"pareto_{stem}.png"),
                    plot_grad_per_time_step(members, runs.grads, keys, title, folder / f"grads_{stem}.png"),
                    plot_accuracy_by_length(members, runs.by_length, keys, title, folder / f"by_length_{stem}.png"),
                )
                if image
            ]
    return sections, csv_parts, images


def _league_sections(frame: pd.DataFrame, folder: Path):
    """league.csv, the league's sections (each setting; across settings where there are enough) and
    the critical-difference diagram (league.py)."""
    from rnnbench.report.league import (
        COLUMNS,
        across_settings,
        describe_ranking,
        display_league,
        display_ranking,
        league,
        ranking_details,
    )
    from rnnbench.report.plots import plot_critical_difference

    table = league(frame[frame["status"] == "completed"]) if len(frame) else pd.DataFrame(columns=COLUMNS)
    if table.empty:
        atomic_write_text(folder / "league.csv", table.to_csv(index=False))
        return [], None
    sections = [
        ("League: each setting's models ranked by its test metric, each against the best", "", display_league(table), 4)
    ]
    found, image, rows = across_settings(table), None, table.drop(columns="score")
    if found:
        ranking, chosen, left_out, unlearned = found
        sections += [
            (f"League across settings: {describe_ranking(ranking)}", "", display_ranking(ranking), 1),
            ("League across settings: what was ranked", "", ranking_details(ranking, chosen, left_out, unlearned), 2),
        ]
        image = plot_critical_difference(
            ranking.ranks, ranking.cd, f"Average rank over {ranking.n} settings (1 = best)", folder / "league_cd.png"
        )
        across = pd.DataFrame(
            {
                "setting": f"across {ranking.n} settings (Friedman p={ranking.p:.3g}, CD={ranking.cd:.3g})",
                "rank": list(ranking.ranks.values()),
                "model": list(ranking.ranks),
                "n": ranking.n,
                "test": "z-test on average ranks vs the best-ranked (Demšar 2006)",
                "p (Holm)": [ranking.p_vs_best.get(m, math.nan) for m in ranking.ranks],
            }
        )
        rows = pd.concat([rows, across], ignore_index=True)
    atomic_write_text(folder / "league.csv", rows.to_csv(index=False))
    return sections, image


def _relative(table: pd.DataFrame, paths: list[Path]) -> pd.DataFrame:
    """Folder names shortened to below the first report path."""
    root = str(paths[0]).rstrip("/") + "/"
    return table.assign(search=[s.removeprefix(root) for s in table["search"]])


def file_stem(name: str, longest: int = 64) -> str:
    """A name from a record (a dataset's) as part of a file name: nothing but letters, digits and
    _ . -, so no value can reach outside the report folder; a longer name is cut and keeps a hash
    of the whole, so that two long names stay two files (a file name has at most 255 bytes)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "_"
    if len(stem) > longest:
        stem = f"{stem[: longest - 9]}-{hashlib.sha1(str(name).encode()).hexdigest()[:8]}"
    return stem


def _bench_section(folder: Path, image: Path):
    """[(title, table)] — cases, ratios, growth with T — and the plot of one `rnnbench bench` folder."""
    from rnnbench.report.bench import describe_machine, display, display_growth, load_bench
    from rnnbench.report.plots import plot_bench

    table, ratios, meta = load_bench(folder)
    shown, shown_ratios = display(table, ratios)
    parts = (
        (f"bench {folder} — {describe_machine(meta)}", shown),
        (f"bench {folder}: throughput ratios (same T, batch, hidden)", shown_ratios),
        (f"bench {folder}: growth of train-step time with T (log-log slope; 1 = linear)", display_growth(table)),
    )
    return [(title, frame) for title, frame in parts if len(frame)], plot_bench(table, image)


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
    more = "".join(f", {status.get(s)} {s}" for s in ("pruned", "running") if status.get(s))
    return (
        f"{len(runs.runs)} runs ({status.get('completed', 0)} completed, {status.get('failed', 0)} failed{more}); "
        f"{len(runs.skipped)} records skipped"
    )


LEGEND = (
    "Test metrics are mean ± sample std over seeds, with the 95% t-interval of the mean (cut to the "
    "metric's range: an accuracy's at 1); the "
    "baseline is measured on the same test data. Speeds are means over seeds, measured while "
    "training: compare runs made on one machine at one time. Train step MiB: weights, gradients, "
    "optimizer state and saved activations of one training step (rnnbench/training/memory.py)."
)


CLAIMS_LEGEND = (
    "Each verdict is computed from the runs above that bear on the claim (rnnbench/report/claims.py); "
    "claims without such runs are not listed. p: the claim's test — Welch's t; the exact permutation "
    "test where values tie or do not vary; log-rank on censored steps to target; non-inferiority for "
    "'at least as good' — named in the evidence, in brackets Holm-adjusted over all the claims here: "
    "verdicts read the adjusted p at 5%. A claim with fewer than 3 runs a side is not decided (too few "
    "seeds); one about skill is 'neither learned' when no side beats the task's trivial baseline; "
    "'equivalent': no difference beyond ±10% of b's mean (two one-sided tests, Holm-adjusted among "
    "themselves). Hedges' g: the difference in pooled standard deviations. Numbers in claims.csv."
)


def _markdown(runs: Runs, paths: list[Path], sections, images, claims: pd.DataFrame) -> str:
    """The report as Markdown; every text from a record is escaped (`_md`)."""
    lines = [
        "# rnnbench report",
        "",
        _md(f"{_counts(runs)} — from {', '.join(map(str, paths))}."),
        LEGEND if len(runs.runs) else "",
        "",
    ]
    for dataset, setting, shown, labels in sections:
        align = ["left"] * labels + ["right"] * (shown.shape[1] - labels)  # labels left, numbers right
        lines += [f"## {_md(dataset + setting)}", "", _md_table(shown, colalign=align), ""]
    if len(claims):
        lines += ["## Claims", "", CLAIMS_LEGEND, "", _md_table(claims), ""]
    failed = runs.runs[runs.runs["status"] == "failed"] if len(runs.runs) else []
    if len(failed):
        lines += ["Failed runs:", *[f"- {_md(f'{r.dir}: {r.reason}')}" for r in failed.itertuples()], ""]
    for title, notes in (("Skipped", runs.skipped), ("Warnings", runs.warnings)):
        if notes:
            lines += [f"{title}:", *[f"- {_md(note)}" for note in notes], ""]
    return "\n".join(lines)


def _md(text) -> str:
    """Text from a record, safe in Markdown: no HTML tag starts (`<x` becomes `&lt;x`; "p < 0.05"
    stays readable), no `|` to break a table row, no line break."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", str(text)).replace("|", "\\|").replace("\n", " ")


def _md_table(frame: pd.DataFrame, **options) -> str:
    safe = frame.map(_md).rename(columns=_md)
    return safe.to_markdown(index=False, disable_numparse=True, **options)


def _latex(sections, claims: pd.DataFrame) -> str:
    """The tables as LaTeX (pandas Styler.to_latex, cells and headers escaped), one per dataset,
    for a paper: needs booktabs, and a Unicode engine (xelatex, lualatex) for ± and ‖."""
    parts = ["% rnnbench report: one table per dataset (\\usepackage{booktabs}; xelatex or lualatex for ±)"]
    tables = [
        (shown, f"{dataset}{setting}: mean ± std over seeds", labels) for dataset, setting, shown, labels in sections
    ]
    if len(claims):
        tables.append((claims, "Claims", claims.shape[1]))
    for frame, caption, labels in tables:
        styler = frame.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
        parts.append(
            styler.to_latex(
                column_format="l" * labels + "r" * (frame.shape[1] - labels), hrules=True, caption=_latex_text(caption)
            )
        )
    return "\n".join(parts)


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_text(text: str) -> str:
    """Text from a record as LaTeX text: every special character escaped (a dataset named
    `\\input{x}` prints as such)."""
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def _html(runs: Runs, paths: list[Path], sections, images, claims: pd.DataFrame, command: str | None) -> str:
    """report.html (html.py): a header of what the page is made of, the tables, claims, plots."""
    import platform
    from datetime import datetime

    from rnnbench.report.html import page
    from rnnbench.training.record import cpu_name

    frame = runs.runs
    versions = sorted({str(v) for v in frame.get("torch", pd.Series(dtype=object)).dropna()})
    devices = sorted({str(v) for v in frame.get("device", pd.Series(dtype=object)).dropna()})
    meta = {
        "command": command or f"rnnbench report {' '.join(map(str, paths))}",
        "made": datetime.now().astimezone().isoformat(timespec="seconds"),
        "on": f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} (Python {platform.python_version()})",
        "records": f"{_counts(runs)}"
        + (f" — trained with torch {', '.join(versions)} on {', '.join(devices)}" if versions else ""),
    }
    lists = [
        (
            "Failed runs",
            [f"{r.dir}: {r.reason}" for r in frame.itertuples() if r.status == "failed"] if len(frame) else [],
        ),
        ("Skipped", runs.skipped),
        ("Warnings", runs.warnings),
    ]
    return page(
        "rnnbench report",
        meta,
        LEGEND,
        [
            (t + setting, shown, key_columns(shown, labels) if "params" in shown.columns else [])
            for t, setting, shown, labels in sections
        ],
        claims,
        CLAIMS_LEGEND,
        images,
        lists,
    )

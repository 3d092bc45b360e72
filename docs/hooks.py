"""MkDocs hook: the config reference (config.md) shows the YAML files of conf/ as they are, so it
cannot drift from them. `{{ conf/GROUP }}` in the page becomes every file of that group."""

from __future__ import annotations

import re
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"


def render(group: str) -> str:
    path = CONF / group
    files = [path] if path.suffix == ".yaml" else sorted(path.glob("*.yaml"))
    blocks = []
    for file in files:
        name = file.relative_to(CONF.parent).as_posix()
        blocks.append(f"`{name}`\n\n```yaml\n{file.read_text(encoding='utf-8').rstrip()}\n```\n")
    if not blocks:
        raise ValueError(f"docs/config.md names conf/{group}, which holds no YAML file")
    return "\n".join(blocks)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_path != "config.md":
        return markdown
    return re.sub(r"\{\{ conf/([\w/.]+) \}\}", lambda m: render(m.group(1)), markdown)

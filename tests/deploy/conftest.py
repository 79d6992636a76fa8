"""The live /metrics exposition and a reader for the metric names that PromQL queries select."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from nctool.testing.lightning import make_npub

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
# Series Prometheus makes itself for every target; nctool does not export them.
SCRAPE_SERIES = frozenset({"up"})
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"})


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


async def run_command(args: list[str], *, stdin: str = "", cwd: Path | None = None) -> CommandResult:
    """Run a program without blocking the event loop that the in-process services share."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    assert process.returncode is not None
    return CommandResult(process.returncode, out.decode(), err.decode())


@pytest_asyncio.fixture(scope="session")
async def exposition(stack) -> str:  # type: ignore[no-untyped-def]
    """The text of the settled stack's /metrics after one API request."""
    await stack.api.create(make_npub())
    response = await stack.api.call("GET", "/metrics")
    response.raise_for_status()
    return str(response.text)


def exported_labels(text: str) -> dict[str, set[str]]:
    """Return each exported sample name with the label names it carries."""
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """Yield (metric name, label names matched) for each series selector in a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", text):
        name, matchers, call = match.groups()
        if call or name in _KEYWORDS:
            continue
        yield name, set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matchers or ""))


def rule_fields(path: Path, key: str) -> list[str]:
    """Return every `key:` value of a rule file, inline or as a `|` block.

    NOTE: a reader for the layout of nctool's own rule files (PyYAML is not a dependency);
    it does not handle YAML's other scalar styles.
    """
    values: list[str] = []
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(rf"^(\s*)(?:- )?{key}:\s*(.*)$", line)
        if not match:
            continue
        indent, value = len(match.group(1)), match.group(2).strip()
        if value != "|":
            values.append(value.strip("'\""))
            continue
        block = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following.strip())
        values.append(" ".join(block).strip())
    return values


def rule_files() -> list[Path]:
    return sorted(PROMETHEUS.glob("*.yml"))


def recorded_names() -> set[str]:
    return {name for path in rule_files() for name in rule_fields(path, "record")}


def missing_from(exposition: str, expressions: list[str]) -> list[str]:
    """Return each selector of `expressions` whose metric or label nctool does not export."""
    exported = exported_labels(exposition)
    recorded = recorded_names()
    problems = []
    for expr in expressions:
        for name, labels in selectors(expr):
            if name in SCRAPE_SERIES or name in recorded:
                continue
            if name not in exported:
                problems.append(f"{name} (in {expr!r})")
            elif labels - TARGET_LABELS - exported[name]:
                problems.append(f"{name} labels {sorted(labels - TARGET_LABELS - exported[name])}")
    return problems

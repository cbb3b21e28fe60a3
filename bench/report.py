"""The tables every bench prints: which machine, when, which commit, and one row per figure.

    figures = [Figure("inbound SMS, msg/s", "SQLite", 2400, 5100, "bare aiohttp", AtLeast(0.35))]
    print_report("Inbound", figures, notes=["wrk: 1 thread, 64 connections"])

A figure compares the gateway's value with its baseline measured in the same run (the ratio),
or, when the issue sets an absolute bound (a p99, a memory size), the value with that bound.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# -- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtLeast:
    """The ratio gateway/baseline must be at least `ratio`."""

    ratio: float

    def describe(self) -> str:
        return f"≥ {self.ratio:g}x"

    def met(self, figure: Figure) -> bool:
        return figure.ratio is not None and figure.ratio >= self.ratio


@dataclass(frozen=True)
class Below:
    """The gateway's value must stay under `bound` (a latency, a memory size)."""

    bound: float

    def describe(self) -> str:
        return f"< {_number(self.bound)}"

    def met(self, figure: Figure) -> bool:
        return figure.value < self.bound


@dataclass(frozen=True)
class AtMost:
    """The gateway's value must be at most `bound` (a ratio of costs, a count of errors)."""

    bound: float

    def describe(self) -> str:
        return f"≤ {_number(self.bound)}"

    def met(self, figure: Figure) -> bool:
        return figure.value <= self.bound


@dataclass(frozen=True)
class RatioAtMost:
    """The ratio gateway/baseline must be at most `ratio` (a cost that must not grow)."""

    ratio: float

    def describe(self) -> str:
        return f"≤ {self.ratio:g}x"

    def met(self, figure: Figure) -> bool:
        return figure.ratio is not None and figure.ratio <= self.ratio


Target = AtLeast | Below | AtMost | RatioAtMost


# -- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure: the gateway's value, and its baseline when it has one."""

    name: str
    database: str
    value: float
    baseline: float | None = None
    #: what the baseline is, e.g. "bare aiohttp"
    baseline_name: str = ""
    target: Target | None = None
    #: digits after the decimal point
    digits: int = 0

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "pass" if self.target.met(self) else "FAIL"

    def cells(self) -> list[str]:
        baseline = "—"
        if self.baseline is not None:
            baseline = _number(self.baseline, self.digits)
            if self.baseline_name:
                baseline += f" ({self.baseline_name})"
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}x"
        target = self.target.describe() if self.target is not None else "—"
        return [
            self.name,
            self.database,
            _number(self.value, self.digits),
            baseline,
            ratio,
            target,
            self.verdict or "—",
        ]


@dataclass(frozen=True)
class Check:
    """A correctness check that goes with the figures: exactly once, no errors."""

    name: str
    database: str
    detail: str
    ok: bool

    def cells(self) -> list[str]:
        return [
            self.name,
            self.database,
            self.detail,
            "—",
            "—",
            "holds",
            "pass" if self.ok else "FAIL",
        ]


Row = Figure | Check


def _number(value: float, digits: int = 0) -> str:
    if value != value:  # NaN: nothing was measured
        return "n/a"
    return f"{value:,.{digits}f}"


# -- where and when --------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    memory_gb: float

    def describe(self) -> str:
        return f"{self.cores} cores, {self.cpu}, {self.memory_gb:.0f} GB"


def machine() -> Machine:
    """This machine's cores, CPU model and memory, from /proc."""
    cpu = platform.processor() or platform.machine()
    memory = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    return Machine(os.cpu_count() or 1, cpu, memory)


def commit() -> str:
    """The commit measured (short hash, `+changes` when the tree differs from it)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# -- printing --------------------------------------------------------------------------------

HEADERS = ["figure", "database", "gateway", "baseline", "ratio", "target", "result"]


@dataclass
class Report:
    """The figures of one bench script, printed as one Markdown table with its caption."""

    title: str
    quick: bool = False
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the machine's load when the bench began (others' work skews the figures)
    load_before: str = field(default_factory=lambda: load_average())
    started: float = field(default_factory=time.monotonic)

    def add(self, *rows: Row) -> None:
        self.rows.extend(rows)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def failed(self) -> bool:
        return any(
            (isinstance(r, Figure) and r.verdict == "FAIL") or (isinstance(r, Check) and not r.ok)
            for r in self.rows
        )

    def text(self) -> str:
        here = machine()
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        caption = [
            f"### {self.title}",
            "",
            f"machine: {here.describe()} · load average at start: {self.load_before} · "
            f"date: {when} · commit: {commit()} · took {time.monotonic() - self.started:.0f} s"
            + (
                " · QUICK smoke run: sizes and durations too small to be figures"
                if self.quick
                else ""
            ),
            "",
        ]
        lines = [*caption, table(HEADERS, [r.cells() for r in self.rows])]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; columns whose cells all look like numbers are right-aligned."""
    widths = [max([len(headers[i]), *(len(row[i]) for row in rows)]) for i in range(len(headers))]
    numeric = [bool(rows) and all(_numeric(row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(cells, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        "-" * (w - 1) + ":" if right else "-" * w for w, right in zip(widths, numeric, strict=True)
    ]
    return "\n".join([line(headers), line(rule), *(line(row) for row in rows)])


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "").lstrip("-").isdigit()

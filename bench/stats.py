"""Figures: repeated measurements summarised as median and min–max, shown beside their baseline.

A `Figure` holds the samples of one quantity for the product and, where there is one, for its
baseline. The table and the JSON file are both made from the same list of figures.
"""

import json
import statistics
from dataclasses import dataclass, field

NOT_AVAILABLE = "not available yet"


@dataclass
class Figure:
    """One line of the table: what was measured, its samples, and the baseline's samples."""

    name: str
    unit: str
    samples: list = field(default_factory=list)
    baseline: str = ""
    baseline_samples: list = field(default_factory=list)
    target: str = ""
    higher_is_better: bool = True
    note: str = ""

    @property
    def available(self):
        return bool(self.samples)

    def summary(self, samples=None):
        samples = self.samples if samples is None else samples
        if not samples:
            return None
        return {
            "median": statistics.median(samples),
            "min": min(samples),
            "max": max(samples),
            "n": len(samples),
        }

    @property
    def ratio(self):
        """Product median over baseline median (for "lower is better" figures, baseline over product)."""
        ours, theirs = self.summary(), self.summary(self.baseline_samples)
        if not ours or not theirs or not ours["median"] or not theirs["median"]:
            return None
        if self.higher_is_better:
            return ours["median"] / theirs["median"]
        return theirs["median"] / ours["median"]

    def as_dict(self):
        return {
            "name": self.name,
            "unit": self.unit,
            "available": self.available,
            "samples": self.samples,
            "summary": self.summary(),
            "baseline": self.baseline or None,
            "baseline_samples": self.baseline_samples,
            "baseline_summary": self.summary(self.baseline_samples),
            "ratio": self.ratio,
            "higher_is_better": self.higher_is_better,
            "target": self.target or None,
            "note": self.note or None,
        }


def number(value):
    """A short human form: 3 significant digits, thousands grouped."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def spread(summary):
    """`median (min–max)`, or the single value when every sample is the same."""
    if summary is None:
        return NOT_AVAILABLE
    if summary["min"] == summary["max"]:
        return number(summary["median"])
    return f"{number(summary['median'])} ({number(summary['min'])}–{number(summary['max'])})"


def rows(figures):
    header = ["figure", "unit", "Stream Portal: median (min–max)", "baseline: median (min–max)", "ratio", "target"]
    body = []
    for fig in figures:
        if fig.baseline:
            baseline = f"{fig.baseline}: {spread(fig.summary(fig.baseline_samples))}"
        else:
            baseline = ""
        ratio = f"{fig.ratio:.2f}×" if fig.ratio is not None else ""
        ours = spread(fig.summary())
        body.append([fig.name, fig.unit, ours, baseline, ratio, fig.target])
    return header, body


def text_table(figures):
    """A plain aligned table for the terminal."""
    header, body = rows(figures)
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    for row in body:
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def markdown_table(figures):
    """The same table in Markdown, for docs/performance.md."""
    header, body = rows(figures)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in body:
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def write_json(path, figures, meta):
    """The machine-readable result: the run's settings and machine, then every figure with its samples."""
    document = {"meta": meta, "figures": [fig.as_dict() for fig in figures]}
    with open(path, "w") as handle:
        json.dump(document, handle, indent=2, default=str)
        handle.write("\n")
    return document

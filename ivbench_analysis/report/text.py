"""Formatting of numbers and tables for the report: n/a for missing values, SUSPECT beside implausible rates.
A table's lines know their table (TableLine), so that report.html shows as a table the very cells the text
report prints."""

import math
from dataclasses import dataclass

import pandas as pd

from ..stats import STAT_NAMES, describe, exceeds_bound


def fmt(value, decimals=1):
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.{decimals}f}"


# The units a duration is shown in, largest first: name, nanoseconds in one.
DURATION_UNITS = (("s", 1e9), ("ms", 1e6), ("us", 1e3), ("ns", 1.0))
# A duration shows this many significant digits (227 ms, 11.1 ms, 1.65 ms): its interval says the rest.
DURATION_DIGITS = 3


def leading(ns):
    """|ns| rounded to DURATION_DIGITS significant digits (0 when missing): what decides the unit and decimals."""
    if ns is None or pd.isna(ns):
        return 0.0
    return abs(float(f"{ns:.{DURATION_DIGITS}g}"))


def duration_unit(ns):
    """(name, ns in one) of the largest unit in which a duration is at least 1 (ns below 1 ns)."""
    magnitude = leading(ns)
    return next(((name, scale) for name, scale in DURATION_UNITS if magnitude >= scale), DURATION_UNITS[-1])


def fmt_durations(values_ns):
    """A row of durations in one unit, the one that fits the first of them (the median), each with as many
    decimals as give that first one DURATION_DIGITS significant digits: (unit, [cell, ...]), n/a where a
    value is missing. The one way the report writes a duration: the answer quotes these very cells."""
    first = values_ns[0] if values_ns else None
    unit, scale = duration_unit(first)
    shown = leading(first) / scale
    decimals = max(0, DURATION_DIGITS - 1 - math.floor(math.log10(shown))) if shown > 0 else 0
    return unit, [fmt(None if v is None or pd.isna(v) else v / scale, decimals) for v in values_ns]


def fmt_duration(ns):
    """One duration with its unit: "227 ms"."""
    unit, (cell,) = fmt_durations([ns])
    return cell if cell == "n/a" else f"{cell} {unit}"


def fmt_mbps(value):
    """MB/s with a SUSPECT mark above the plausible bound."""
    text = fmt(value, 1)
    return text + " SUSPECT" if exceeds_bound(value) else text


def fmt_size(size):
    return f"{size:.0f} bytes ({size / 1e6:.6f} MB, {size / 2**20:.6f} MiB)"


@dataclass(frozen=True, eq=False)
class Table:
    """A table's cells as printed: the header, the rows, and how far the text indents it."""
    header: tuple
    rows: tuple
    indent: str


class TableLine(str):
    """One printed line of a table (a plain str to the text report) that knows its Table and its row (-1: the
    header), for report.html."""
    table: Table
    row: int

    def __new__(cls, text, table, row):
        line = super().__new__(cls, text)
        line.table, line.row = table, row
        return line


def fmt_table(header, rows, indent="  "):
    """Columns padded to their widest cell: the first left-aligned, the rest right-aligned. Each line is a
    TableLine."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    table = Table(tuple(cells[0]), tuple(tuple(row) for row in cells[1:]), indent)
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for number, row in enumerate(cells, start=-1):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append(TableLine(indent + "  ".join(parts).rstrip(), table, number))
    return lines


def section(title):
    return ["", title, "-" * len(title)]


def stats_table(named_series):
    """One row per (label, series): every statistic in STAT_NAMES, in ns."""
    rows = []
    for label, values in named_series:
        stats = describe(values)
        rows.append([label, str(stats["count"])] + [fmt(stats[name]) for name in STAT_NAMES[1:]])
    return fmt_table(["column"] + STAT_NAMES, rows)


def fmt_ratio(value):
    """A speed or time ratio: two decimals, or three significant digits below 0.1 (fresh pages: 0.00572x)."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.2f}x" if value >= 0.1 else f"{value:#.3g}x"


def fmt_share(value):
    return "n/a" if value is None else f"{100 * value:.1f}%"

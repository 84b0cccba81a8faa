"""Usage over time as a picture (``tenctl usage --plot FILE``), from the watcher's history.

One chart per tenant: the share of each limit (CPU, RAM, storage, in %) over time, the warning, critical
and 100 % lines over coloured bands, a legend with the latest figures, and axes labelled with times
(local time, its UTC offset in the axis title) and percentages. Three formats, chosen by the file's suffix:

* ``.svg``: the charts one above the other in one SVG document;
* ``.html``: a page with a table of the latest figures and each tenant's chart as inline SVG;
* ``.png``: the same charts drawn by a small rasteriser (lines, bands, a 5x7 pixel font for the labels)
  and encoded with :mod:`zlib`, so that no plotting library is needed.

The geometry (:class:`Chart`) is computed once and drawn by both the SVG and the PNG writers.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tenctl_core.errors import UsageError
from tenctl_core.limits import RESOURCES, UNITS, fmt, status_of

if TYPE_CHECKING:
    from tenctl_core.config import MonitoringSettings
    from tenctl_core.history import History, Sample

FORMATS = (".svg", ".html", ".png")
WIDTH = 800
HEIGHT = 320
"""Pixels of one tenant's chart; a file with several tenants stacks them."""
LEFT, RIGHT, TOP, BOTTOM = 58, 70, 58, 46
"""The margins around the plot area: tick labels left, threshold labels right, title and legend on top."""
LABELS = {"cpu": "CPU", "ram": "RAM", "storage": "Storage"}
COLORS = {"cpu": "#1c64b4", "ram": "#2b8a3e", "storage": "#8639b8"}
THRESHOLD_COLORS = {"warning": "#d9a400", "critical": "#e8590c", "limit": "#c92a2a"}
BAND_COLORS = {"warning": "#fff5d1", "critical": "#ffe3cc", "limit": "#ffd9d9"}
GRID, AXIS, TEXT, BACKGROUND = "#e2e2e2", "#555555", "#222222", "#ffffff"
Y_STEPS = (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)
TIME_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000)
MAX_TICKS = 7


# ------------------------------------------------------------------------------------------- the path


def check_plot_path(path: Path) -> str:
    """The format (``.svg``, ``.html``, ``.png``) for path; UsageError if tenctl cannot or should not write
    there (unknown suffix, missing directory, a directory, a symbolic link)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"--plot {path}: the file name must end in .svg, .html or .png")
    if path.is_symlink():
        raise UsageError(f"--plot {path}: is a symbolic link; tenctl does not write through one")
    if path.exists() and not path.is_file():
        raise UsageError(f"--plot {path}: exists and is not a regular file")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: directory {path.parent} does not exist")
    return suffix


def write_file(path: Path, data: bytes) -> None:
    """Replace path atomically: a temporary file beside it, renamed (the rename replaces a symbolic link
    made meanwhile, never its target)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def plot_history(
    history: History, tenants: list[str] | None, path: Path, monitoring: MonitoringSettings
) -> int:
    """Draw the tenants' history (every tenant in it when None) into path, in the format its suffix
    names; returns how many tenants were drawn."""
    suffix = check_plot_path(path)
    names = sorted(history.tenants) if tenants is None else tenants
    for name in names:
        if name not in history.tenants or not history.tenants[name].samples:
            known = ", ".join(sorted(n for n, h in history.tenants.items() if h.samples)) or "none"
            raise UsageError(
                f"there is no usage history of tenant {name!r} on this node (tenants with one: {known})"
            )
    if not names:
        raise UsageError("the usage history holds no tenant yet: `tenctl watch` records it")
    charts = [Chart.of(name, history.tenants[name].samples, monitoring) for name in names]
    if suffix == ".svg":
        data = svg_document(charts).encode()
    elif suffix == ".html":
        data = html_report(charts, monitoring).encode()
    else:
        data = png_image(charts)
    write_file(path, data)
    return len(charts)


# --------------------------------------------------------------------------------------- the geometry


@dataclass(frozen=True)
class Series:
    resource: str
    times: list[float]
    percents: list[float]


@dataclass(frozen=True)
class Line:
    """A threshold drawn across the plot."""

    name: str
    """``warning``, ``critical`` or ``limit``."""
    percent: float
    label: str


@dataclass(frozen=True)
class Chart:
    """One tenant's chart: the data and where everything goes, in pixels from the chart's top left."""

    tenant: str
    series: list[Series]
    latest: Sample
    lines: list[Line]
    start: float
    end: float
    top: float
    """The percentage at the top of the y axis."""
    y_step: int
    time_step: int
    width: int = WIDTH
    height: int = HEIGHT

    @classmethod
    def of(cls, tenant: str, samples: list[Sample], monitoring: MonitoringSettings) -> Chart:
        times = [s.time for s in samples]
        series = [Series(r, times, [s.percent(r) for s in samples]) for r in RESOURCES]
        start, end = min(times), max(times)
        if end - start < 60:
            # One sample (or a few close together): show it in the middle of ten minutes.
            start, end = start - 300, end + 300
        highest = max(max(s.percents) for s in series)
        top, y_step = y_scale(max(110.0, highest * 1.05))
        lines = [
            Line("warning", monitoring.warning_percent, f"{monitoring.warning_percent} %"),
            Line("critical", monitoring.critical_percent, f"{monitoring.critical_percent} %"),
            Line("limit", 100.0, "limit"),
        ]
        return cls(tenant, series, samples[-1], lines, start, end, top, y_step, time_step(end - start))

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_top(self) -> int:
        return TOP

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    def x(self, when: float) -> float:
        share = (when - self.start) / (self.end - self.start)
        return self.plot_left + share * (self.plot_right - self.plot_left)

    def y(self, percent: float) -> float:
        share = min(percent, self.top) / self.top
        return self.plot_bottom - share * (self.plot_bottom - self.plot_top)

    def y_ticks(self) -> list[int]:
        return list(range(0, int(self.top) + 1, self.y_step))

    def time_ticks(self) -> list[tuple[float, str]]:
        """(time, label) at round local times within the span."""
        offset = local_offset(self.start)
        step = self.time_step
        first = math.ceil((self.start + offset) / step) * step - offset
        pattern = "%H:%M" if self.end - self.start <= 86400 else "%m-%d" if step >= 86400 else "%m-%d %H:%M"
        ticks = []
        when = first
        while when <= self.end:
            ticks.append((when, dt.datetime.fromtimestamp(when).strftime(pattern)))
            when += step
        return ticks

    def time_title(self) -> str:
        offset = local_offset(self.start)
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(int(offset)) // 60, 60)
        first = dt.datetime.fromtimestamp(self.start).strftime("%Y-%m-%d %H:%M")
        last = dt.datetime.fromtimestamp(self.end).strftime("%Y-%m-%d %H:%M")
        return f"time (UTC{sign}{hours:02d}:{minutes:02d}), {first} to {last}"

    def legend(self) -> list[tuple[str, str]]:
        """(resource, text) with the latest figures: ``CPU 150.0 % (12 of 8 cores)``."""
        return [
            (
                r,
                f"{LABELS[r]} {self.latest.percent(r)} % ({fmt(self.latest.value(r))} of {self.latest.limit(r)} {UNITS[r]})",
            )
            for r in RESOURCES
        ]


def y_scale(needed: float) -> tuple[float, int]:
    """(top of the axis, step between ticks): the first step giving at most six ticks above 0."""
    for step in Y_STEPS:
        top = math.ceil(needed / step) * step
        if top / step <= 6:
            return float(top), step
    step = Y_STEPS[-1]
    return float(math.ceil(needed / step) * step), step


def time_step(span: float) -> int:
    for step in TIME_STEPS:
        if span / step <= MAX_TICKS:
            return step
    return TIME_STEPS[-1]


def local_offset(when: float) -> float:
    offset = dt.datetime.fromtimestamp(when).astimezone().utcoffset()
    return offset.total_seconds() if offset else 0.0


# ------------------------------------------------------------------------------------------------ SVG


def _attrs(**values: object) -> str:
    return " ".join(
        f'{k.rstrip("_").replace("_", "-")}="{html.escape(str(v), quote=True)}"' for k, v in values.items()
    )


def _text(x: float, y: float, content: str, **values: object) -> str:
    return f"<text {_attrs(x=f'{x:.1f}', y=f'{y:.1f}', **values)}>{html.escape(content)}</text>"


def svg_chart(chart: Chart, y_offset: int = 0) -> str:
    """One tenant's chart as an ``<svg>`` element (nested at y_offset in a larger document)."""
    c = chart
    out = [
        f"<svg {_attrs(x=0, y=y_offset, width=c.width, height=c.height, viewBox=f'0 0 {c.width} {c.height}')} "
        f'class="tenant-chart" data-tenant="{html.escape(c.tenant)}">',
        f"<rect {_attrs(x=0, y=0, width=c.width, height=c.height, fill=BACKGROUND)}/>",
    ]
    # Bands: warning to critical, critical to the limit, beyond the limit.
    edges = [line.percent for line in c.lines] + [c.top]
    for line, upper in zip(c.lines, edges[1:], strict=True):
        low, high = c.y(min(upper, c.top)), c.y(min(line.percent, c.top))
        if high > low:
            out.append(
                f"<rect {_attrs(x=c.plot_left, y=f'{low:.1f}', width=c.plot_right - c.plot_left, height=f'{high - low:.1f}', fill=BAND_COLORS[line.name])}/>"
            )
    for tick in c.y_ticks():
        y = c.y(tick)
        out.append(
            f"<line {_attrs(x1=c.plot_left, y1=f'{y:.1f}', x2=c.plot_right, y2=f'{y:.1f}', stroke=GRID)}/>"
        )
        out.append(_text(c.plot_left - 6, y + 4, f"{tick} %", text_anchor="end", font_size=11, fill=TEXT))
    for when, label in c.time_ticks():
        x = c.x(when)
        out.append(
            f"<line {_attrs(x1=f'{x:.1f}', y1=c.plot_top, x2=f'{x:.1f}', y2=c.plot_bottom, stroke=GRID)}/>"
        )
        out.append(_text(x, c.plot_bottom + 16, label, text_anchor="middle", font_size=11, fill=TEXT))
    for line in c.lines:
        if line.percent > c.top:
            continue
        y = c.y(line.percent)
        color = THRESHOLD_COLORS[line.name]
        out.append(
            f"<line {_attrs(x1=c.plot_left, y1=f'{y:.1f}', x2=c.plot_right, y2=f'{y:.1f}', stroke=color, stroke_width=1.5, stroke_dasharray='6 4', class_=f'threshold {line.name}')}/>"
        )
        out.append(_text(c.plot_right + 6, y + 4, line.label, font_size=11, fill=color))
    out.append(
        f"<path {_attrs(d=f'M{c.plot_left},{c.plot_top} V{c.plot_bottom} H{c.plot_right}', fill='none', stroke=AXIS)}/>"
    )
    for series in c.series:
        points = " ".join(
            f"{c.x(t):.1f},{c.y(p):.1f}" for t, p in zip(series.times, series.percents, strict=True)
        )
        out.append(
            f"<polyline {_attrs(points=points, fill='none', stroke=COLORS[series.resource], stroke_width=2, stroke_linejoin='round', class_='series')} "
            f'data-resource="{series.resource}" '
            f'data-times="{" ".join(str(round(t)) for t in series.times)}" '
            f'data-percent="{" ".join(str(p) for p in series.percents)}"/>'
        )
    out.append(
        _text(
            c.plot_left,
            20,
            f"tenant {c.tenant}: share of each limit",
            font_size=15,
            font_weight="bold",
            fill=TEXT,
        )
    )
    x = c.plot_left
    for resource, text in c.legend():
        out.append(
            f"<line {_attrs(x1=x, y1=38, x2=x + 18, y2=38, stroke=COLORS[resource], stroke_width=3)}/>"
        )
        out.append(_text(x + 23, 42, text, font_size=11, fill=TEXT))
        x += 23 + 6.2 * len(text) + 18
    out.append(
        _text(
            (c.plot_left + c.plot_right) / 2,
            c.height - 8,
            c.time_title(),
            text_anchor="middle",
            font_size=11,
            fill=TEXT,
        )
    )
    middle = (c.plot_top + c.plot_bottom) / 2
    out.append(
        _text(
            14,
            middle,
            "% of limit",
            text_anchor="middle",
            font_size=11,
            fill=TEXT,
            transform=f"rotate(-90 14 {middle:.1f})",
        )
    )
    out.append("</svg>")
    return "\n".join(out)


def svg_document(charts: list[Chart]) -> str:
    height = sum(c.height for c in charts)
    body = []
    offset = 0
    for chart in charts:
        body.append(svg_chart(chart, offset))
        offset += chart.height
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" {_attrs(width=WIDTH, height=height, viewBox=f"0 0 {WIDTH} {height}")} '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n'
        "<title>tenctl: usage over time</title>\n" + "\n".join(body) + "\n</svg>\n"
    )


# ----------------------------------------------------------------------------------------------- HTML


STYLE = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; color: #222; margin: 2em; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
td.OK { background: #eef8ee; } td.WARNING { background: #fff5d1; }
td.CRITICAL { background: #ffe3cc; } td.OVER { background: #ffd9d9; font-weight: bold; }
svg { display: block; margin-bottom: 1.5em; font-family: inherit; }
"""


def html_report(charts: list[Chart], monitoring: MonitoringSettings) -> str:
    """A page: the latest figures of each tenant in a table, then each tenant's chart (inline SVG)."""
    warning, critical = monitoring.warning_percent, monitoring.critical_percent
    rows = []
    for chart in charts:
        latest = chart.latest
        cells = []
        statuses = []
        for resource in RESOURCES:
            status = status_of(latest.value(resource), latest.limit(resource), warning, critical)
            statuses.append(status)
            cells.append(
                f'<td class="{status}">{fmt(latest.value(resource))} of {latest.limit(resource)} '
                f"{UNITS[resource]}, {latest.percent(resource)} %, {status}</td>"
            )
        when = dt.datetime.fromtimestamp(latest.time).astimezone().isoformat(timespec="seconds")
        rows.append(
            f'<tr data-tenant="{html.escape(chart.tenant)}"><td>{html.escape(chart.tenant)}</td>'
            f"<td>{html.escape(when)}</td>{''.join(cells)}</tr>"
        )
    sections = "\n".join(
        f'<h2 id="tenant-{html.escape(c.tenant)}">{html.escape(c.tenant)}</h2>\n'
        + svg_chart(c).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
        for c in charts
    )
    made = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>tenctl: usage over time</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        "<h1>Usage over time</h1>\n"
        f"<p>The share of each limit held by each tenant, from the watcher's history; made {html.escape(made)}. "
        f"WARNING from {warning} %, CRITICAL from {critical} %, OVER beyond the limit.</p>\n"
        '<table class="latest">\n<thead><tr><th>Tenant</th><th>Latest sample</th>'
        "<th>CPU</th><th>RAM</th><th>Storage</th></tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>\n"
        + sections
        + "\n</body>\n</html>\n"
    )


# ------------------------------------------------------------------------------------------------ PNG


Color = tuple[int, int, int]


def rgb(color: str) -> Color:
    value = int(color.lstrip("#"), 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


class Canvas:
    """An RGB raster with the few primitives a chart needs."""

    def __init__(self, width: int, height: int, background: Color) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            at = 3 * (y * self.width + x)
            self.pixels[at : at + 3] = bytes(color)

    def fill(self, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        left, right = sorted((max(0, round(x0)), min(self.width, round(x1))))
        top, bottom = sorted((max(0, round(y0)), min(self.height, round(y1))))
        row = bytes(color) * (right - left)
        for y in range(top, bottom):
            at = 3 * (y * self.width + left)
            self.pixels[at : at + len(row)] = row

    def line(
        self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1, dash: int = 0
    ) -> None:
        """A straight line, ``width`` pixels thick; ``dash`` > 0 draws dashes and gaps of that length."""
        steps = max(1, math.ceil(max(abs(x1 - x0), abs(y1 - y0))))
        spread = range(-(width // 2), width - width // 2)
        for i in range(steps + 1):
            if dash and (i // dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * i / steps)
            y = round(y0 + (y1 - y0) * i / steps)
            for dx in spread:
                for dy in spread:
                    self.dot(x + dx, y + dy, color)

    def text(
        self, x: float, y: float, content: str, color: Color, scale: int = 1, anchor: str = "start"
    ) -> None:
        """Text in the 5x7 font, upper case, its baseline at y; anchor ``start``, ``middle`` or ``end``."""
        advance = 6 * scale
        width = advance * len(content) - scale
        left = round(x - (width / 2 if anchor == "middle" else width if anchor == "end" else 0))
        top = round(y) - 7 * scale
        for index, char in enumerate(content.upper()):
            rows = glyph(char)
            for row, bits in enumerate(rows):
                for column in range(5):
                    if bits >> (4 - column) & 1:
                        self.fill(
                            left + index * advance + column * scale,
                            top + row * scale,
                            left + index * advance + (column + 1) * scale,
                            top + (row + 1) * scale,
                            color,
                        )

    def png(self) -> bytes:
        """The image as a PNG file: 8-bit RGB, no interlace, every row unfiltered, one zlib stream."""
        stride = 3 * self.width
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b"")
        )


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_chart(canvas: Canvas, c: Chart, y_offset: int) -> None:
    def y(percent: float) -> float:
        return y_offset + c.y(percent)

    edges = [line.percent for line in c.lines] + [c.top]
    for line, upper in zip(c.lines, edges[1:], strict=True):
        if line.percent < c.top:
            canvas.fill(
                c.plot_left, y(min(upper, c.top)), c.plot_right, y(line.percent), rgb(BAND_COLORS[line.name])
            )
    for tick in c.y_ticks():
        canvas.line(c.plot_left, y(tick), c.plot_right, y(tick), rgb(GRID))
        canvas.text(c.plot_left - 6, y(tick) + 3, f"{tick}%", rgb(TEXT), anchor="end")
    for when, label in c.time_ticks():
        x = c.x(when)
        canvas.line(x, y_offset + c.plot_top, x, y_offset + c.plot_bottom, rgb(GRID))
        canvas.text(x, y_offset + c.plot_bottom + 15, label, rgb(TEXT), anchor="middle")
    for line in c.lines:
        if line.percent <= c.top:
            color = rgb(THRESHOLD_COLORS[line.name])
            canvas.line(c.plot_left, y(line.percent), c.plot_right, y(line.percent), color, width=1, dash=5)
            canvas.text(c.plot_right + 6, y(line.percent) + 3, line.label, color)
    canvas.line(c.plot_left, y_offset + c.plot_top, c.plot_left, y_offset + c.plot_bottom, rgb(AXIS))
    canvas.line(c.plot_left, y_offset + c.plot_bottom, c.plot_right, y_offset + c.plot_bottom, rgb(AXIS))
    for series in c.series:
        color = rgb(COLORS[series.resource])
        points = [(c.x(t), y(p)) for t, p in zip(series.times, series.percents, strict=True)]
        if len(points) == 1:
            canvas.fill(points[0][0] - 2, points[0][1] - 2, points[0][0] + 3, points[0][1] + 3, color)
        for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
            canvas.line(xa, ya, xb, yb, color, width=2)
    canvas.text(c.plot_left, y_offset + 22, f"tenant {c.tenant}", rgb(TEXT), scale=2)
    x = float(c.plot_left)
    for resource, text in c.legend():
        canvas.line(x, y_offset + 38, x + 16, y_offset + 38, rgb(COLORS[resource]), width=3)
        canvas.text(x + 21, y_offset + 41, text, rgb(TEXT))
        x += 21 + 6 * len(text) + 16
    canvas.text(
        (c.plot_left + c.plot_right) / 2, y_offset + c.height - 8, c.time_title(), rgb(TEXT), anchor="middle"
    )


def png_image(charts: list[Chart]) -> bytes:
    canvas = Canvas(WIDTH, sum(c.height for c in charts), rgb(BACKGROUND))
    offset = 0
    for chart in charts:
        png_chart(canvas, chart, offset)
        offset += chart.height
    return canvas.png()


# A 5x7 pixel font for the PNG labels, drawn for tenctl: each glyph is seven rows of five pixels.
FONT_ROWS = {
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "###.. #..#. #...# #...# #...# #..#. ###..",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    " ": "..... ..... ..... ..... ..... ..... .....",
    ":": "..... ..#.. ..#.. ..... ..#.. ..#.. .....",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
}
UNKNOWN = "##### #...# #...# #...# #...# #...# #####"
_GLYPHS: dict[str, tuple[int, ...]] = {}


def glyph(char: str) -> tuple[int, ...]:
    """The seven rows of a character as 5-bit numbers (a box for a character the font lacks)."""
    if char not in _GLYPHS:
        _GLYPHS[char] = tuple(int(row.replace("#", "1").replace(".", "0"), 2) for row in _rows(char))
    return _GLYPHS[char]


def _rows(char: str) -> Iterable[str]:
    return FONT_ROWS.get(char, UNKNOWN).split()

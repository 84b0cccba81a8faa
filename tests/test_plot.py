"""The pictures of usage over time (tenctl_core.plot): SVG, HTML and PNG drawn from a usage history."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tenctl_core.config import MonitoringSettings
from tenctl_core.errors import UsageError
from tenctl_core.history import History, Sample, write_history
from tenctl_core.plot import COLORS, HEIGHT, WIDTH, Chart, check_plot_path, plot_history, rgb

SVG = "{http://www.w3.org/2000/svg}"
START = 1_767_261_600  # 2026-01-01 10:00 UTC


def history() -> History:
    made = History()
    alpha = made.of("alpha")
    for i, cpu in enumerate([2, 4, 7, 12, 12, 6]):
        alpha.add(Sample(START + 60 * i, (cpu, 2048 + 1024 * i, 50.5), (8, 8192, 100)), keep=100)
    beta = made.of("beta")
    beta.add(Sample(START, (1, 512, 1), (4, 4096, 10)), keep=100)
    return made


def charts_in(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()  # noqa: S314 - tenctl's own output
    assert root.tag == f"{SVG}svg"
    return {chart.get("data-tenant"): chart for chart in root.iter(f"{SVG}svg") if chart.get("data-tenant")}


def series(chart: ET.Element) -> dict[str, ET.Element]:
    return {line.get("data-resource"): line for line in chart.iter(f"{SVG}polyline")}


def test_the_svg_holds_each_tenants_series_as_in_the_history(tmp_path: Path) -> None:
    data = history()
    path = tmp_path / "usage.svg"
    assert plot_history(data, None, path, MonitoringSettings()) == 2
    charts = charts_in(path)
    assert set(charts) == {"alpha", "beta"}
    geometry = Chart.of("alpha", data.tenants["alpha"].samples, MonitoringSettings())
    lines = series(charts["alpha"])
    assert set(lines) == {"cpu", "ram", "storage"}
    for resource, line in lines.items():
        expected = [s.percent(resource) for s in data.tenants["alpha"].samples]
        assert [float(p) for p in line.get("data-percent").split()] == expected
        assert [int(t) for t in line.get("data-times").split()] == [START + 60 * i for i in range(6)]
        # The drawn points are the same numbers, through the chart's scales.
        points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        for (x, y), sample in zip(points, data.tenants["alpha"].samples, strict=True):
            assert x == pytest.approx(geometry.x(sample.time), abs=0.06)
            assert y == pytest.approx(geometry.y(sample.percent(resource)), abs=0.06)
    assert [float(p) for p in lines["cpu"].get("data-percent").split()] == [
        25.0,
        50.0,
        87.5,
        150.0,
        150.0,
        75.0,
    ]
    texts = [t.text for t in charts["alpha"].iter(f"{SVG}text")]
    assert "tenant alpha: share of each limit" in texts
    assert {"80 %", "90 %", "limit"} <= set(texts)
    assert "CPU 75.0 % (6 of 8 cores)" in texts and "Storage 50.5 % (50.5 of 100 GB)" in texts
    assert "10:00" in texts and any(t.startswith("time (UTC") for t in texts)
    thresholds = [line.get("class") for line in charts["alpha"].iter(f"{SVG}line") if line.get("class")]
    assert thresholds == ["threshold warning", "threshold critical", "threshold limit"]


def test_the_thresholds_follow_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "usage.svg"
    plot_history(history(), ["beta"], path, MonitoringSettings(warning_percent=70, critical_percent=85))
    charts = charts_in(path)
    assert set(charts) == {"beta"}
    texts = [t.text for t in charts["beta"].iter(f"{SVG}text")]
    assert {"70 %", "85 %", "limit"} <= set(texts)


class Tables(HTMLParser):
    """The cells of each table row, and the inline SVG elements."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "svg" and ("class", "tenant-chart") in attrs:
            self.svgs += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_the_html_report_has_the_latest_figures_and_a_chart_per_tenant(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    plot_history(history(), None, path, MonitoringSettings())
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = Tables()
    page.feed(text)
    assert page.rows[0] == ["Tenant", "Latest sample", "CPU", "RAM", "Storage"]
    alpha = next(r for r in page.rows if r[0] == "alpha")
    assert alpha[2:] == [
        "6 of 8 cores, 75.0 %, OK",
        "7168 of 8192 MB, 87.5 %, WARNING",
        "50.5 of 100 GB, 50.5 %, OK",
    ]
    assert alpha[1].startswith("2026-01-01T")
    assert page.svgs == 2
    # Each embedded chart is well-formed SVG on its own.
    for part in text.split("<svg ")[1:]:
        ET.fromstring("<svg " + part.split("</svg>")[0] + "</svg>")  # noqa: S314 - tenctl's own output


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_the_png_is_a_valid_image_of_the_right_size_with_every_series(tmp_path: Path) -> None:
    path = tmp_path / "usage.PNG"
    plot_history(history(), None, path, MonitoringSettings())
    chunks = png_chunks(path.read_bytes())
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height, depth, color) == (WIDTH, 2 * HEIGHT, 8, 2)
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == height * (1 + 3 * width)
    rows = [raw[y * (1 + 3 * width) + 1 : (y + 1) * (1 + 3 * width)] for y in range(height)]
    pixels = {bytes(row[i : i + 3]) for row in rows for i in range(0, len(row), 3)}
    for resource in ("cpu", "ram", "storage"):
        assert bytes(rgb(COLORS[resource])) in pixels, resource
    # The CPU line passes through the point of alpha's fourth sample (150 %).
    chart = Chart.of("alpha", history().tenants["alpha"].samples, MonitoringSettings())
    x, y = round(chart.x(START + 180)), round(chart.y(150.0))
    assert rows[y][3 * x : 3 * x + 3] == bytes(rgb(COLORS["cpu"]))


def test_the_plot_path_is_checked_before_anything_is_drawn(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"must end in \.svg, \.html or \.png"):
        check_plot_path(tmp_path / "usage.pdf")
    with pytest.raises(UsageError, match="directory .* does not exist"):
        check_plot_path(tmp_path / "missing" / "usage.svg")
    (tmp_path / "dir.svg").mkdir()
    with pytest.raises(UsageError, match="not a regular file"):
        check_plot_path(tmp_path / "dir.svg")
    target = tmp_path / "precious"
    target.write_text("keep me")
    (tmp_path / "link.svg").symlink_to(target)
    with pytest.raises(UsageError, match="symbolic link"):
        plot_history(history(), None, tmp_path / "link.svg", MonitoringSettings())
    assert target.read_text() == "keep me"
    (tmp_path / "dangling.html").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="symbolic link"):
        check_plot_path(tmp_path / "dangling.html")
    assert not (tmp_path / "nowhere").exists()
    old = tmp_path / "old.svg"
    old.write_text("an older picture")
    plot_history(history(), None, old, MonitoringSettings())
    assert old.read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_unknown_tenant_names_those_with_a_history(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no usage history of tenant 'gamma' .*alpha, beta"):
        plot_history(history(), ["gamma"], tmp_path / "usage.svg", MonitoringSettings())
    assert not (tmp_path / "usage.svg").exists()


def test_plot_usage_reads_this_nodes_history(tmp_path: Path) -> None:
    from tenctl_core.cli.watch_cmd import plot_usage
    from tenctl_core.config import load_config

    config = tmp_path / "tenctl.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\ntenants_dir = "{tmp_path / "tenants"}"\n'
    )
    settings = load_config(str(config), None)
    with pytest.raises(UsageError, match="no usage history in .* yet") as raised:
        plot_usage(settings, tmp_path / "usage.svg", None)
    assert "tenctl watch" in str(raised.value)
    write_history(tmp_path / "state" / "usage-history.json", history())
    message = plot_usage(settings, tmp_path / "usage.html", ["alpha"])
    assert (
        message
        == f"wrote {tmp_path / 'usage.html'}: 1 tenant(s) from {tmp_path / 'state' / 'usage-history.json'}"
    )


def test_usage_plot_draws_the_watchers_history(cluster, tmp_path: Path) -> None:
    """From the lab: two polls of `tenctl watch`, then `tenctl usage --plot` (without any API request)."""
    from conftest import ok

    lab = cluster
    ok(lab.run("add", "-n", "alpha", "-c", "4", "-r", "4096", "-s", "100"))
    lab.pve.add_vm(
        761, "web", node="pve1", status="running",
        config={"cores": 6, "memory": 2048, "scsi0": "local-lvm:vm-761-disk-0,size=50G"},
    )  # fmt: skip
    lab.pve._pool_join("tenant_alpha", 761)
    ok(lab.run("watch", "--once"))
    lab.pve.vm(761).status = "stopped"
    ok(lab.run("watch", "--once"))
    mark = lab.mark()
    done = ok(lab.run("usage", "--plot", str(tmp_path / "usage.svg")))
    assert lab.requests_since(mark) == 0
    assert done.stdout.startswith(f"wrote {tmp_path / 'usage.svg'}: 1 tenant(s) from ")
    lines = series(charts_in(tmp_path / "usage.svg")["alpha"])
    assert lines["cpu"].get("data-percent") == "150.0 0.0"
    assert lines["ram"].get("data-percent") == "50.0 0.0"
    assert lines["storage"].get("data-percent") == "50.0 50.0"
    ok(lab.run("usage", "-n", "alpha", "--plot", str(tmp_path / "alpha.png")))
    assert (tmp_path / "alpha.png").read_bytes().startswith(b"\x89PNG")
    refused = lab.run("usage", "--plot", str(tmp_path / "usage.pdf"))
    assert refused.exit_code == 2 and "must end in .svg, .html or .png" in refused.stderr
    unknown = lab.run("usage", "-n", "nobody", "--plot", str(tmp_path / "nobody.svg"))
    assert unknown.exit_code == 2 and "no usage history of tenant 'nobody'" in unknown.stderr
    assert not (tmp_path / "usage.pdf").exists() and not (tmp_path / "nobody.svg").exists()

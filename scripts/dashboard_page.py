"""The HTML page `scripts/dashboard_screenshot.py` photographs: the dashboard's panels, laid
out on Grafana's 24-column grid, drawn as inline SVG from evaluated queries (no JavaScript)."""

from __future__ import annotations

import html
import math
import statistics
from typing import Any

from scripts.dashboard_promql import Evaluator, Scrape, legend

WIDTH_PX = 1600
ROW_PX = 30
GAP_PX = 8
COLORS = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a")
_CSS = """
body{margin:0;background:#111217;color:#ccccdc;font:13px Inter,Helvetica,Arial,sans-serif}
header{padding:10px 16px;border-bottom:1px solid #2c3235;display:flex;gap:18px;align-items:center}
header h1{font-size:17px;margin:0;font-weight:500}
.var{background:#181b1f;border:1px solid #2c3235;padding:4px 8px;border-radius:2px}
.note{color:#9fa7b3;font-size:12px;margin-left:auto;max-width:640px;text-align:right}
.grid{position:relative;margin:8px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;
  box-sizing:border-box;overflow:hidden}
.panel h2{font-size:13px;font-weight:500;margin:6px 8px 2px}
.flex{display:flex;align-items:flex-start}
.stat{font-size:40px;font-weight:500;text-align:center;margin-top:8px}
.nodata{color:#6e7580;text-align:center;margin-top:40px}
table{font-size:11px;border-collapse:collapse;margin:4px 8px;width:270px}
td,th{padding:1px 6px;text-align:right;color:#ccccdc;font-weight:400;white-space:nowrap}
td:first-child,th:first-child{text-align:left}
"""


def fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "NaN"
    if unit == "s":
        return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    suffix = {"reqps": " req/s", "ops": " ops/s"}.get(unit, "")
    return f"{value:.3g}{suffix}"


def series_of(evaluator: Evaluator, panel: dict[str, Any], count: int) -> dict[str, list[Any]]:
    """Legend -> [value or None per scrape], over every target of the panel."""
    found: dict[str, list[Any]] = {}
    for target in panel["targets"]:
        for index in range(count):
            for labels, value in evaluator.at(target["expr"], index).items():
                name = legend(target["legendFormat"], labels)
                found.setdefault(name, [None] * count)[index] = value
    return found


def svg_chart(series: dict[str, list[Any]], times: list[float], unit: str, w: int, h: int) -> str:
    values = [v for points in series.values() for v in points if v is not None]
    top = max(values) * 1.1 if values and max(values) > 0 else 1.0
    left, bottom, right = 62, 18, 8
    plot_w, plot_h = w - left - right, h - bottom - 4
    span = (times[-1] - times[0]) or 1.0

    def x(t: float) -> float:
        return left + (t - times[0]) / span * plot_w

    def y(v: float) -> float:
        return 4 + plot_h - v / top * plot_h

    parts = [f'<svg width="{w}" height="{h}">']
    for i in range(5):
        value = top * i / 4
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="#2c3235"/><text x="{left - 4}" y="{y(value) + 4:.1f}" fill="#9fa7b3" '
            f'font-size="10" text-anchor="end">{html.escape(fmt(value, unit))}</text>'
        )
    for t in range(0, int(span) + 1, 30):
        parts.append(
            f'<text x="{x(times[0] + t):.1f}" y="{h - 4}" fill="#9fa7b3" font-size="10" '
            f'text-anchor="middle">{t // 60}:{t % 60:02d}</text>'
        )
    for color, points in zip(COLORS * 3, series.values(), strict=False):
        path = " ".join(
            f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, points, strict=True) if v is not None
        )
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def legend_table(series: dict[str, list[Any]], unit: str) -> str:
    rows = ["<table><tr><th></th><th>mean</th><th>max</th></tr>"]
    for color, (name, points) in zip(COLORS * 3, series.items(), strict=False):
        values = [v for v in points if v is not None]
        mean, peak = (statistics.fmean(values), max(values)) if values else (math.nan, math.nan)
        rows.append(
            f'<tr><td><span style="color:{color}">&#9644;</span> {html.escape(name)}</td>'
            f"<td>{fmt(mean, unit)}</td><td>{fmt(peak, unit)}</td></tr>"
        )
    return "".join(rows) + "</table>"


def panel_html(panel: dict[str, Any], evaluator: Evaluator, times: list[float]) -> str:
    grid, unit = panel["gridPos"], panel["fieldConfig"]["defaults"].get("unit", "short")
    col = (WIDTH_PX - 16) / 24
    w, h = int(grid["w"] * col - GAP_PX), grid["h"] * ROW_PX + (grid["h"] - 1) * GAP_PX
    style = f"left:{grid['x'] * col:.0f}px;top:{grid['y'] * (ROW_PX + GAP_PX)}px;"
    style += f"width:{w}px;height:{h}px"
    series = series_of(evaluator, panel, len(times))
    body = '<div class="nodata">No data</div>'
    if series and panel["type"] == "stat":
        last = [p[-1] for p in series.values() if p[-1] is not None]
        steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
        color = "#73bf69"
        for step in steps:
            if last and (step["value"] is None or last[0] >= step["value"]):
                color = "#73bf69" if step["color"] == "green" else "#f2495c"
        if last:
            body = f'<div class="stat" style="color:{color}">{fmt(last[0], unit)}</div>'
    elif series:  # the legend on the right, as the JSON's options say
        chart = svg_chart(series, times, unit, w - 290, h - 34)
        body = f'<div class="flex">{chart}{legend_table(series, unit)}</div>'
    title = html.escape(panel["title"])
    return (
        f'<div class="panel" style="{style}" title="{html.escape(panel["description"])}">'
        f"<h2>{title}</h2>{body}</div>"
    )


def page(board: dict[str, Any], evaluator: Evaluator, scrapes: list[Scrape], rate_s: float) -> str:
    times = [s.t for s in scrapes]
    panels = "".join(panel_html(p, evaluator, times) for p in board["panels"])
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    note = (
        f"Not Grafana: the panels of dashboards/auth-sidecar.json, each query evaluated over "
        f"{len(scrapes)} scrapes of a real sidecar's /metrics under load "
        f"($__rate_interval = {rate_s:.0f} s) by scripts/dashboard_screenshot.py."
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(board['title'])}</h1>"
        "<span class='var'>Data source: Prometheus</span><span class='var'>Job: All</span>"
        f"<span class='note'>{html.escape(note)}</span></header>"
        f'<div class="grid" style="height:{bottom * (ROW_PX + GAP_PX)}px">{panels}</div>'
        "</body></html>"
    )

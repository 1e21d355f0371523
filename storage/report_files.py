"""A saved report's result as a file: JSON, CSV, XLSX (openpyxl) or PDF (reportlab: a table of
the rows and, for the reports that have one, a bar chart: a label column against its first
number).

Pure functions of a `report_result` answer (storage/saved_reports.py), no database: the gateway
renders them for downloads (`GET /v1/saved-reports/:id/export`), the tenant shard for the mail
of a scheduled run (actors/saved_report_schedule.py), both through `export_file`. Cells are the
flat rows of storage/report_runs.py; CSV and XLSX cells that a spreadsheet would run as a
formula are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from storage import report_runs

MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "pdf": "application/pdf"}
CHARTED = ("aggregate", "pipeline", "timeseries", "leaderboard", "funnel")
PDF_ROWS = 500  # rows printed in a PDF (the CSV and XLSX hold all of them)
CHART_BARS = 40
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def table(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The result's columns (in first-seen order) and rows."""
    rows = report_runs.result_rows(report["type"], report["result"])
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return columns, [[row.get(c) for c in columns] for row in rows]


def document(report: dict[str, Any]) -> dict[str, Any]:
    """The `json` export: the report with its table (`format`, `columns`, `rows`)."""
    columns, rows = table(report)
    return {**report, "format": "json", "columns": columns, "rows": rows}


def to_json(report: dict[str, Any]) -> bytes:
    return json.dumps(document(report), ensure_ascii=False, default=str).encode()


def export_file(report: dict[str, Any], format: str) -> tuple[bytes, str, str]:
    """The report as a file of `format` (a key of RENDER): (content, media type, file name)."""
    return RENDER[format](report), MEDIA[format], f"{report['id']}.{format}"


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def to_csv(report: dict[str, Any]) -> bytes:
    columns, rows = table(report)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return buf.getvalue().encode("utf-8", "replace")


def to_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.utils.exceptions import IllegalCharacterError

    columns, rows = table(report)
    book = Workbook()
    sheet = book.active
    sheet.title = report["type"]
    sheet.append(columns)
    for row in rows:
        try:
            sheet.append([_cell(v) for v in row])
        except IllegalCharacterError:  # control characters: kept as their repr
            sheet.append([repr(v) if isinstance(v, str) else v for v in row])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def chart_points(report: dict[str, Any]) -> list[tuple[str, float]]:
    """(label, value) bars: the first text column against `value`, `count` or else the first
    numeric column."""
    if report["type"] not in CHARTED:
        return []
    columns, rows = table(report)
    if not rows:
        return []
    numeric = [i for i, c in enumerate(columns)
               if all(isinstance(r[i], int | float) and not isinstance(r[i], bool)
                      for r in rows if r[i] is not None)
               and any(r[i] is not None for r in rows)]
    labels = [i for i in range(len(columns)) if i not in numeric]
    if not numeric:
        return []
    named = [i for name in ("value", "count") for i in numeric if columns[i] == name]
    label, value = (labels[0] if labels else None), (named or numeric)[0]
    return [(str(r[label]) if label is not None else str(n + 1), float(r[value] or 0))
            for n, r in enumerate(rows[:CHART_BARS])]


def to_pdf(report: dict[str, Any]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    columns, rows = table(report)
    story: list[Any] = [Paragraph(_escape(report["name"]), styles["Title"]),
                        Paragraph(f"{report['type']} report, run {report['ran_at']}",
                                  styles["Normal"]), Spacer(1, 12)]
    points = chart_points(report)
    if points:
        story += [_chart(points), Spacer(1, 12)]
    data = [columns] + [[_short(v) for v in row] for row in rows[:PDF_ROWS]]
    grid = Table(data or [["(no rows)"]], repeatRows=1)
    grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                              ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                              ("FONTSIZE", (0, 0), (-1, -1), 7)]))
    story.append(grid)
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=landscape(A4), title=_short(report["name"])).build(story)
    return buf.getvalue()


def _chart(points: list[tuple[str, float]]) -> Any:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing

    drawing = Drawing(700, 220)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 40, 640, 160
    chart.data = [[v for _, v in points]]
    chart.categoryAxis.categoryNames = [_short(label, 16) for label, _ in points]
    chart.categoryAxis.labels.angle = 30
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.valueAxis.valueMin = min(0.0, *(v for _, v in points))
    drawing.add(chart)
    return drawing


def _short(value: Any, most: int = 60) -> str:
    text = "" if value is None else str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= most else text[: most - 1] + "…"


def _escape(text: str) -> str:
    return _short(text, 200).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


RENDER = {"json": to_json, "csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf}

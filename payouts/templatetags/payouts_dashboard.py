from dataclasses import dataclass

from django import template
from django.template.defaultfilters import date as date_format
from django.template.defaultfilters import truncatechars
from django.utils import timezone

from payouts.dashboard import dashboard

register = template.Library()


@dataclass(frozen=True)
class Cell:
    text: object
    url: str | None = None
    numeric: bool = False


def _list_panels(parts: dict) -> list[dict]:
    """The dashboard's list panels (work waiting, failed imports) as rows of cells, drawn by one table template."""
    panels = []
    if "applications" in parts:
        panels.append({"id": "applications", "heading": "Applications waiting",
                       "headers": [("Program", False), ("Waiting", True)],
                       "rows": [[Cell(row["program"], row["url"]), Cell(row["waiting"], numeric=True)]
                                for row in parts["applications"]],
                       "empty": "No application is waiting for a decision."})
    if "runs" in parts:
        panels.append({"id": "runs", "heading": "Runs waiting for approval",
                       "headers": [("Run", False), ("Total", True), ("Lines", True), ("Started by", False)],
                       "rows": [[Cell(row["run"], row["url"]), Cell(row["total"], numeric=True),
                                 Cell(row["lines"], numeric=True), Cell(row["started_by"])] for row in parts["runs"]],
                       "empty": "No run is waiting for approval."})
    if "imports" in parts:
        imports = parts["imports"]
        panels.append({"id": "imports",
                       "heading": "Failed imports" + (f" ({imports['count']})" if imports["count"] else ""),
                       "headers": [("Import", False), ("When", False), ("Why", False)],
                       "rows": [[Cell(row["job"], row["url"]),
                                 Cell(date_format(timezone.localtime(row["job"].created_at), "Y-m-d H:i")),
                                 Cell(truncatechars(row["job"].message, 120))] for row in imports["jobs"]],
                       "empty": "No import failed."})
    return panels


@register.inclusion_tag("admin/payouts/dashboard_panels.html", takes_context=True)
def money_dashboard(context):
    """The admin front page's panels, for the signed-in user (see payouts.dashboard)."""
    parts = dashboard(context["request"].user)
    return {**parts, "list_panels": _list_panels(parts)}

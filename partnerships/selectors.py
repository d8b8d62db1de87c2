"""Reads shared by the admin, commands and (later) the API and brand pages."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from partnerships.models import Enrolment, Partner, PartnerStatistics


def partner_list() -> QuerySet[Partner]:
    """Partners with their statistics and live programs, in a constant number of queries."""
    live = Enrolment.objects.live().select_related("program").only("id", "partner_id", "status", "program__name")
    return Partner.objects.select_related("statistics").prefetch_related(
        Prefetch("enrolments", queryset=live, to_attr="live_enrolments")
    )


def application_queue() -> QuerySet[Enrolment]:
    return Enrolment.objects.select_related("partner", "program", "decided_by")


def partner_timeline(partner: Partner, *, limit: int = 100) -> list[dict]:
    """Every recorded change of the partner and of its enrolments, newest first."""
    partner_rows = list(partner.history.select_related("history_user").order_by("-history_date", "-history_id")[:limit])
    enrolment_rows = (
        Enrolment.history.filter(partner_id=partner.pk)
        .select_related("history_user", "program")
        .order_by("-history_date")[:limit]
    )
    events = []
    for index, row in enumerate(partner_rows):
        previous = partner_rows[index + 1] if index + 1 < len(partner_rows) else None
        events.append({
            "at": row.history_date, "who": row.history_user, "subject": "Partner",
            "change": _describe(row, previous), "reason": row.history_change_reason or "",
        })
    for row in enrolment_rows:
        events.append({
            "at": row.history_date, "who": row.history_user, "subject": f"Enrolment in {row.program.name}",
            "change": f"status {row.status}" if row.history_type != "+" else f"created ({row.status})",
            "reason": row.history_change_reason or "",
        })
    events.sort(key=lambda event: event["at"], reverse=True)
    return events[:limit]


TIMELINE_FIELDS = (
    "kind", "handle", "display_name", "country", "date_of_birth", "age_verified", "status", "status_reason",
    "tax_form_on_file", "identity_verified", "opted_into_brand_deals",
)


def _describe(row, previous) -> str:
    """What changed between two history rows, compared in memory (no query per row)."""
    if row.history_type == "+":
        return "created"
    if row.history_type == "-":
        return "deleted"
    if previous is None:
        return "changed"
    changes = [
        f"{name}: {getattr(previous, name)} → {getattr(row, name)}"
        for name in TIMELINE_FIELDS
        if getattr(previous, name) != getattr(row, name)
    ]
    return ", ".join(changes) or "saved (categories or unchanged fields)"


def partner_summary(partner: Partner) -> dict:
    """What the partner page leads with: standing, the 30-day statistics, live enrolments (two queries)."""
    try:
        statistics = partner.statistics
    except PartnerStatistics.DoesNotExist:
        statistics = None
    live = getattr(partner, "live_enrolments", None)  # prefetched by partner_list()
    if live is None:
        live = list(Enrolment.objects.live().filter(partner=partner).select_related("program"))
    live = sorted(live, key=lambda enrolment: enrolment.program.name)
    return {
        "status": partner.get_status_display(), "status_reason": partner.status_reason,
        "status_changed_at": partner.status_changed_at, "statistics": statistics, "live_enrolments": live,
    }

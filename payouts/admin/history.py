"""The versions of a fund, its tranches or a program's terms as the admin shows them: when, who, why, old → new."""

from __future__ import annotations

import datetime as dt

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.display import format_timestamp
from core.money import format_money, format_percent


def _shown(value, name: str, *, money: tuple, percents: tuple, currency: str | None) -> str:
    if value is None or value == "":
        return "—"
    if name in money and currency:
        return format_money(value, currency)
    if name in percents:
        return format_percent(value)
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    return str(value)


def versions_table(versions: list[tuple[str, list]], *, fields: dict[str, tuple], money: tuple = (),
                   percents: tuple = (), currency: str | None = None):
    """Every version, newest first: when, who, the reason, and old → new of each field that changed.
    `versions` is [(label, historical records of one object, oldest first)]; `fields` maps a label to field names."""
    rows = []
    for label, records in versions:
        names = fields[label]
        previous = None
        for record in records:
            if record.history_type == "-":
                changes = [("", "deleted", "")]
            else:
                changes = [(name.removesuffix("_minor").replace("_", " "),
                            _shown(getattr(previous, name) if previous is not None else None, name, money=money,
                                   percents=percents, currency=currency),
                            _shown(getattr(record, name), name, money=money, percents=percents, currency=currency))
                           for name in names
                           if previous is None or getattr(previous, name) != getattr(record, name)]
            previous = record
            rows.append((record.history_date, record.history_user, record.history_change_reason, label,
                         record.history_type, changes))
    if not rows:
        return "No version yet."
    rows.sort(key=lambda row: row[0], reverse=True)
    kinds = {"+": "created", "~": "changed", "-": "deleted"}
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>", (
        (format_timestamp(when), user.get_username() if user else "—", reason or "—", label, kinds[kind],
         format_html_join(mark_safe("<br>"), "{}: {} → {}", changes) if kind != "-" else "")
        for when, user, reason, label, kind, changes in rows))
    return format_html('<table class="versions"><thead><tr><th>When</th><th>Who</th><th>Reason</th><th>What</th>'
                       "<th>Old → new</th></tr></thead><tbody>{}</tbody></table>", body)

from django import template

from payouts.dashboard import dashboard

register = template.Library()


@register.inclusion_tag("admin/payouts/dashboard_panels.html", takes_context=True)
def money_dashboard(context):
    """The admin front page's panels, for the signed-in user (see payouts.dashboard)."""
    return dashboard(context["request"].user)

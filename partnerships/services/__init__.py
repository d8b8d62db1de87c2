"""Every write of the partnerships app, one module per area: enrolments, partners, statistics.

Each public function is one action: it runs in a transaction, locks the rows it changes, checks the
acting user's permission, records who/when/why in the object's history, and changes nothing when it
refuses. The admin, management commands and Celery tasks all call these functions, from their module.
"""

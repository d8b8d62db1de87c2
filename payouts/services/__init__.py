"""Every write of the payouts app, one module per area: ``runs`` (compute, request, recompute, requeue),
``settlement`` (approve, mark paid, cancel) and ``adjustments``. Import from the module that holds the service."""

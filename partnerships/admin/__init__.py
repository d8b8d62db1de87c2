from partnerships.admin import enrolments, metrics, partners, programs  # noqa: F401  (registration)

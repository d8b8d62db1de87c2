from partnerships.admin import brands, enrolments, metrics, partners, programs  # noqa: F401  (registration)

"""Settings, read from the environment through config.env (the only reader).

Defaults give the embedded local mode: a SQLite file and Celery running tasks eagerly in process.
Production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis) and SECRET_KEY.
"""

import datetime as dt
from pathlib import Path

from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)
# Only a DEBUG (local) process may fall back to a development key; anything else must be given one.
SECRET_KEY = env_str("SECRET_KEY", default="insecure-local-development-key") if DEBUG else env_str("SECRET_KEY")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "django.contrib.postgres",
    "simple_history",
    "django_celery_beat",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "allauth",
    "allauth.account",
    "core",
    "ingestion",
    "partnerships",
    "payouts",
    "creators",
]

MIDDLEWARE = [
    # First: behind a trusted proxy (nginx), REMOTE_ADDR becomes the client's address for lockouts and throttles.
    "config.forwarded.ForwardedClientMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before anything reads a parameter: NUL bytes and lone surrogates are a 400 here, never a 500 in the database.
    "config.hostile_input.UnstorableTextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): a second factor was checked in this session (core.second_factor).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # django-allauth's per-request state (the creator pages' sign-in, e-mail verification and password reset).
    "allauth.account.middleware.AccountMiddleware",
    # The creator pages in the visitor's language (English or Spanish); everything else stays in English.
    "creators.middleware.CreatorLanguageMiddleware",
    # Last: turns a sign-in refused by axes (the account is locked) into the "locked, try again at" answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": parse_database_url(env_str("DATABASE_URL", default="sqlite:///db.sqlite3"), base_dir=BASE_DIR)}
# A read replica of the primary for the brand search (core/replica.py): only reads inside replica_reads() use it.
if DATABASE_REPLICA_URL := env_str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = parse_database_url(DATABASE_REPLICA_URL, base_dir=BASE_DIR)
DATABASE_ROUTERS = ["core.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# axes first: it refuses any sign-in (admin, brand pages) of a locked username + address, the right password too.
# The creator pages sign in by e-mail address through django-allauth's backend, after axes.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["config.formats"]  # English dates in one form, timestamps with their zone

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# Served by whitenoise from the web process: hashed, compressed, cached forever (collectstatic at build time).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
                    else "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = env_str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "media/"

# Payees' bank details are encrypted at rest with keys derived from SECRET_KEY and PAYEE_DATA_KEY
# (django-fernet-encrypted-fields' SALT_KEY; several comma-separated keys rotate: the first encrypts).
SALT_KEY = env_list("PAYEE_DATA_KEY", default=["insecure-local-development-payee-key"] if DEBUG else [])
PAYEE_CHANGE_HOLD_DAYS = env_int("PAYEE_CHANGE_HOLD_DAYS", 7)
LOGIN_URL = "/brands/login/"  # the brand pages' sign-in; the creator pages redirect to their own (creators.pages)

# Bank files and statements (payouts.banking). A bank takes at most so many payments per file; a statement upload
# is refused past BANK_STATEMENT_MAX_BYTES. The originator is who pays: the company's own accounts, given by the
# bank; DEBUG has demo values (a test IBAN and routing number) so the demo writes files without configuration.
PAYMENT_FILE_MAX_PAYMENTS = env_int("PAYMENT_FILE_MAX_PAYMENTS", 100_000)
# From this many payments a batch is released by a compute worker, not within the admin's request (which would
# outlast gunicorn's timeout: a million payments take a minute or more); the batch page shows how it went.
PAYMENT_BATCH_BACKGROUND_FROM = env_int("PAYMENT_BATCH_BACKGROUND_FROM", 20_000)
if PAYMENT_BATCH_BACKGROUND_FROM < 1:
    raise ImproperlyConfigured(f"PAYMENT_BATCH_BACKGROUND_FROM must be a whole number from 1, "
                               f"not {PAYMENT_BATCH_BACKGROUND_FROM}")
# SEPA files are checked against the ISO pain.001.001.03 schema as a batch is released: a file the bank would reject
# refuses the release instead. "first" (the default) checks each batch's first file: every file comes from the same
# template and checked values, and checking all of a million payments' files adds about a third to the release
# (bench/batches.py); "all" checks every file; "off" none.
PAYMENT_FILE_SCHEMA_CHECK = env_str("PAYMENT_FILE_SCHEMA_CHECK", default="first")
if PAYMENT_FILE_SCHEMA_CHECK not in ("first", "all", "off"):
    raise ImproperlyConfigured(f"PAYMENT_FILE_SCHEMA_CHECK must be first, all or off, "
                               f"not {PAYMENT_FILE_SCHEMA_CHECK!r}")
# From this many payments, a release on PostgreSQL writes its files in a second thread beside its ledger postings.
PAYMENT_FILES_BESIDE_POSTINGS_FROM = env_int("PAYMENT_FILES_BESIDE_POSTINGS_FROM", 50_000)
BANK_STATEMENT_MAX_BYTES = env_int("BANK_STATEMENT_MAX_BYTES", 20 * 1024 * 1024)
PAYMENT_ORIGINATOR_NAME = env_str("PAYMENT_ORIGINATOR_NAME", default="Creator Partnerships Demo" if DEBUG else "")
PAYMENT_ORIGINATOR_IBAN = env_str("PAYMENT_ORIGINATOR_IBAN", default="DE89370400440532013000" if DEBUG else "")
PAYMENT_ORIGINATOR_BIC = env_str("PAYMENT_ORIGINATOR_BIC", default="COBADEFFXXX" if DEBUG else "")
PAYMENT_ORIGINATOR_ACH_ROUTING = env_str("PAYMENT_ORIGINATOR_ACH_ROUTING", default="021000021" if DEBUG else "")
PAYMENT_ORIGINATOR_ACH_ACCOUNT = env_str("PAYMENT_ORIGINATOR_ACH_ACCOUNT", default="000123456789" if DEBUG else "")
PAYMENT_ORIGINATOR_ACH_COMPANY_ID = env_str("PAYMENT_ORIGINATOR_ACH_COMPANY_ID",
                                            default="1234567890" if DEBUG else "")
# NACHA's file header: the receiving bank's routing number and the originator's id, as the bank assigns them
# (empty: the originator's routing number and company id).
PAYMENT_ORIGINATOR_ACH_IMMEDIATE_DESTINATION = env_str("PAYMENT_ORIGINATOR_ACH_IMMEDIATE_DESTINATION", default="")
PAYMENT_ORIGINATOR_ACH_IMMEDIATE_ORIGIN = env_str("PAYMENT_ORIGINATOR_ACH_IMMEDIATE_ORIGIN", default="")

# One JSON object per line in production (LOG_FORMAT=json, the default without DEBUG), for log collectors;
# plain lines in development. Celery workers and gunicorn log through the same configuration.
LOG_FORMAT = env_str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
    # django-axes announces itself at every start; its lockouts are warnings and still show.
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Security (production defaults whenever DEBUG is off; see README, "Production") ---------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP, from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
# Behind a TLS-terminating proxy (a PaaS router, nginx) that sets X-Forwarded-Proto; never without one.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO") else None
# The proxies whose X-Forwarded-For names the client (config/forwarded.py): gunicorn's rule for the scheme.
TRUSTED_PROXIES = env_list("FORWARDED_ALLOW_IPS", default=["127.0.0.1"] if env_bool("TRUST_X_FORWARDED_PROTO") else [])
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts only from this site (the admin, the brand pages and the API docs have no inline script); inline
# styles stay allowed because the admin's own templates and ours use style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Login throttling (django-axes): every sign-in goes through django.contrib.auth.authenticate ---------
# After LOGIN_FAILURE_LIMIT failed sign-ins of one username from one address, that pair is locked for
# LOGIN_COOLOFF_MINUTES; staff see and clear lockouts in the admin (Axes → Access attempts: delete the row).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Tries made while locked do not push the end of the lock further: "try again at" stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
# The address is the connection's (REMOTE_ADDR): a client-supplied X-Forwarded-For must never pick whose
# failures count, whatever packages are installed.
AXES_CLIENT_IP_CALLABLE = "config.lockout.client_ip"
# A creator signs in with an e-mail address (django-allauth passes it as "email"): it counts as the username.
AXES_USERNAME_CALLABLE = "config.lockout.client_username"

# --- Second factor (django-otp TOTP; core.second_factor, core.two_factor) ---------------------------------------
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = "Creator Partnerships"
# Throttling of wrong codes, per device (django-otp's default, stated so nobody sets it to 0, which turns it off):
# after n wrong codes in a row every code, the right one too, is refused for 2^(n-1) seconds (1, 2, 4, ...:
# 8.5 minutes after 10, 17 after 11). A right code resets the count.
OTP_TOTP_THROTTLE_FACTOR = 1

# --- Celery: config/settings_celery.py (the broker, retries, queues and housekeeping schedules) ---------
from config.settings_celery import *  # noqa: E402,F403

CELERY_TIMEZONE = TIME_ZONE

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "partnerships.marketplace.api.authentication.BrandTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Bodies past DATA_UPLOAD_MAX_MEMORY_SIZE or DATA_UPLOAD_MAX_NUMBER_FIELDS get JSON, not Django's HTML 400.
    "EXCEPTION_HANDLER": "partnerships.marketplace.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Creator Partnerships brand API",
    "DESCRIPTION": "Search creators who opted into brand deals, run campaigns and invite creators.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # The interactive docs are served from this deployment, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("CACHE_URL")}
        if env_str("CACHE_URL", default="") else
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Requests per brand (its members on the pages and its API tokens together), and of those, writes (POST, PUT, PATCH,
# DELETE): "<count>/<second|minute|hour|day>". Counted in CACHES["default"], which must be shared in production.
# API_BRAND_RATE is the name BRAND_RATE had when only the API was throttled.
BRAND_RATE = env_str("BRAND_RATE", default=env_str("API_BRAND_RATE", default="600/minute"))
BRAND_WRITE_RATE = env_str("BRAND_WRITE_RATE", default="120/minute")

# A page of the creator search (API and brand page) is kept this many seconds in CACHES["default"], shared by every
# brand (nothing in it depends on the brand); a statistics refresh or a change to any partner drops them all at
# once (partnerships.marketplace.search_cache). 0 turns the cache off. Off by default without a shared cache: a
# change seen by one process would not drop the pages the other processes keep in their own memory.
SEARCH_CACHE_SECONDS = env_int("SEARCH_CACHE_SECONDS", 30 if env_str("CACHE_URL", default="") else 0)
if not 0 <= SEARCH_CACHE_SECONDS <= 3600:
    raise ValueError(f"SEARCH_CACHE_SECONDS={SEARCH_CACHE_SECONDS}: give 0 (off) to 3600 seconds.")

# API tokens stop working this many days after they were created.
API_TOKEN_MAX_AGE_DAYS = env_int("API_TOKEN_MAX_AGE_DAYS", 90)
# /health/ready keeps its checks' answer this long (seconds) for anonymous callers: probes and floods alike.
HEALTH_READY_CACHE_SECONDS = float(env_int("HEALTH_READY_CACHE_SECONDS", 5))
# ... and while its checks only time out (a flood saturating the CPU slows every answer; a refusal is reported at
# once), it stays ready this long after the last run that passed: a dependency that hangs shows within it.
HEALTH_READY_GRACE_SECONDS = float(env_int("HEALTH_READY_GRACE_SECONDS", 15))

# --- Domain settings ----------------------------------------------------------------------------
# Admin changelists on tables larger than this use the planner's estimate instead of COUNT(*).
ADMIN_ESTIMATED_COUNT_THRESHOLD = env_int("ADMIN_ESTIMATED_COUNT_THRESHOLD", 100_000)
# Daily metrics' monthly partitions on PostgreSQL (partnerships.services.partitions): months made ahead by the beat
# task, and months kept attached (0: all; older ones go to the metric_archive schema when nothing needs them).
METRIC_PARTITION_MONTHS_AHEAD = env_int("METRIC_PARTITION_MONTHS_AHEAD", 3)
METRIC_RETENTION_MONTHS = env_int("METRIC_RETENTION_MONTHS", 0)
# PostgreSQL work_mem of a payout computation's transaction: its aggregates and sorts over a million partners
# stay in memory instead of spilling to disk (one computation per program at a time).
PAYOUT_WORK_MEM = env_str("PAYOUT_WORK_MEM", default="256MB")
# Who brands may find: partners who opted in, are active, and pass these marketplace rules.
MARKETPLACE_MIN_AGE = env_int("MARKETPLACE_MIN_AGE", 18)
MARKETPLACE_MIN_FOLLOWERS = env_int("MARKETPLACE_MIN_FOLLOWERS", 10_000)
MARKETPLACE_MIN_VIEWS_30D = env_int("MARKETPLACE_MIN_VIEWS_30D", 1_000)
MARKETPLACE_MIN_POSTS_30D = env_int("MARKETPLACE_MIN_POSTS_30D", 3)
INVITATION_DAYS_TO_ANSWER = env_int("INVITATION_DAYS_TO_ANSWER", 7)
# Imports through the admin preview are for spreadsheets; bigger files go to bulk ingestion.
ADMIN_IMPORT_MAX_ROWS = env_int("ADMIN_IMPORT_MAX_ROWS", 50_000)
# An XLSX upload is a zip: the sum of its parts' unzipped sizes is checked before anything is parsed (a 107 KB
# file took a web process from 205 MB to 805 MB).
ADMIN_IMPORT_MAX_XLSX_BYTES = env_int("ADMIN_IMPORT_MAX_XLSX_BYTES", 50 << 20)
# Bulk ingestion refuses a file whose text passes these sizes (after gzip decompression), checked while it streams:
# a small gzip file can hold gigabytes, and a line is held in memory whole.
INGEST_MAX_DECOMPRESSED_BYTES = env_int("INGEST_MAX_DECOMPRESSED_BYTES", 2 << 30)
INGEST_MAX_LINE_BYTES = env_int("INGEST_MAX_LINE_BYTES", 64 << 10)
# --- Creator portal (creators/): accounts by django-allauth under /creators/, e-mail ---------------
# Nobody signs up: a partner's people claim an account from an e-mailed link (creators.services.claims).
ACCOUNT_ADAPTER = "creators.adapter.CreatorAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_REDIRECT_URL = "/creators/account/login/"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Creator Partnerships] "
# Failed sign-ins: per address and per account (allauth counts in the default cache, shared in production). The
# account's budget is below axes' LOGIN_FAILURE_LIMIT, so a creator meets allauth's message first.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("CREATOR_LOGIN_RATE", default="20/m/ip,3/5m/key"),
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
}
CREATOR_CLAIM_DAYS = env_int("CREATOR_CLAIM_DAYS", 7)
# Links in e-mails are absolute: the address people reach the site at.
SITE_URL = env_str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="Creator Partnerships <no-reply@localhost>")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend" if DEBUG
                        else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "creators" / "locale"]

IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"

# The house formats in English (settings.FORMAT_MODULE_PATH): one form of date everywhere, and every timestamp the
# admin shows (changelist columns, read-only fields) with its zone, "T" being the active zone's abbreviation.
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "j M Y, H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"

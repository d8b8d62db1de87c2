"""Hostile strings for the fuzz tests (issue 15): what an attacker or a careless paste sends to every field.

One fixed list (every value reaches every field: see `rotations`) and a hypothesis strategy that builds more of the
same kinds, plus a snapshot of the project's row counts to prove a refusal wrote nothing."""

from __future__ import annotations

from collections.abc import Iterator

from django.apps import apps
from hypothesis import strategies as st

PROJECT_APPS = ("auth", "partnerships", "payouts", "ingestion")
LONG = "9" * 5_000  # far past every field's limit, well inside the request limit
TEN_MB = "x" * (10 * 1024 * 1024)  # past DATA_UPLOAD_MAX_MEMORY_SIZE: the request is refused whole

HOSTILE: tuple[str, ...] = (
    "\x00", "ben\x00", "1E+999999", "-1e309", "Infinity", "NaN", "-inf", "٣", "١٢٣٫٤٥", "３", "99999.99",
    "-1", "0001-01-01", "9999-12-31", "10000-01-01", "'; DROP TABLE auth_user;--", "=HYPERLINK(\"http://x\")",
    "{\"US\": \"1E+999999\"}", "[{\"up_to\": NaN}]", "XXX", LONG, "",
)

# Values that most often get past a field's own parser to the form's clean(), the model or the database: each is put
# alone into a form that is otherwise valid.
ALONE: tuple[str, ...] = ("1E+999999", "٣", "9999-12-31", "99999.99", "{\"US\": \"1E+999999\"}")

_DIGITS = st.sampled_from("0123456789٠١٢٣٤٥٦٧٨٩０１２３４５６７８９")
_NUMBERS = st.builds(lambda sign, digits, exp: f"{sign}{''.join(digits)}{exp}",
                     st.sampled_from(["", "-", "+", "−"]), st.lists(_DIGITS, min_size=1, max_size=25),
                     st.sampled_from(["", "e999999", "E+309", "e-400", ".5", ",50"]))


def hostile_strings() -> st.SearchStrategy[str]:
    """The fixed list, numbers in mixed scripts with huge exponents, and text with NUL and control characters."""
    return st.one_of(st.sampled_from(HOSTILE), _NUMBERS,
                     st.text(alphabet=st.characters(codec="utf-8"), max_size=50).map(lambda text: text + "\x00"),
                     st.dates().map(lambda day: day.isoformat()))


def rotations(names: list[str]) -> Iterator[dict[str, str]]:
    """len(HOSTILE) assignments in which each name takes every hostile value once (a Latin square)."""
    for shift in range(len(HOSTILE)):
        yield {name: HOSTILE[(index + shift) % len(HOSTILE)] for index, name in enumerate(names)}


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count()
            for name in PROJECT_APPS for model in apps.get_app_config(name).get_models()}

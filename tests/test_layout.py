"""The layout's rules (issue 12, STYLE.md "Who owns what"), checked on the source with ast: no database, nothing
imported. The table below is the specification; tests/layout_check.py is the machinery.

An import counts for the rules wherever it is written (in a function, under `if TYPE_CHECKING:`): the dependency
is there either way. Cycles count only imports that run when a module is imported (module level, class bodies,
try blocks), since only those can fail half-initialised."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.layout_check import (
    Import,
    Module,
    Rule,
    describe_cycle,
    find_imports,
    find_modules,
    import_cycles,
    in_package,
    oversized,
    rule_violations,
    service_or_selector,
    with_component,
)

APPLICATION_PACKAGES = ("config", "core", "ingestion", "partnerships", "payouts", "creators")  # migrations excluded
MAX_MODULE_LINES = 400

RULES = [
    Rule("core imports no project app",
         source=in_package("core"),
         forbidden=in_package("config", "ingestion", "partnerships", "payouts", "creators")),
    Rule("ingestion imports only core (of the project's packages)",
         source=in_package("ingestion"), forbidden=in_package("config", "partnerships", "payouts", "creators")),
    Rule("creators imports only core, partnerships and payouts (of the project's packages)",
         source=in_package("creators"), forbidden=in_package("config", "ingestion")),
    Rule("no app imports creators (only config's urls and settings name it)",
         source=in_package("core", "ingestion", "partnerships", "payouts"), forbidden=in_package("creators")),
    Rule("partnerships never imports payouts",
         source=in_package("partnerships"), forbidden=in_package("payouts")),
    Rule("services and selectors never import admin, API or page modules",
         source=service_or_selector, forbidden=with_component("admin", "api", "pages")),
    Rule("pages never import the API",
         source=with_component("pages"), forbidden=with_component("api")),
]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(repr=False)  # a failure shows the violations, not hundreds of modules
class Project:
    modules: dict[str, Module]
    imports: list[Import]

    def __iter__(self):
        return iter((self.modules, self.imports))


@pytest.fixture(scope="module")
def project():
    modules = find_modules(ROOT, [package for package in APPLICATION_PACKAGES if (ROOT / package).is_dir()])
    assert {"core", "partnerships", "payouts"} <= {name.split(".")[0] for name in modules}, "the scan found no code"
    return Project(modules, find_imports(ROOT, modules))


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_import_rule_holds(project, rule):
    modules, imports = project
    violations = rule_violations(rule, imports, modules)
    assert not violations, f"{rule.name}, broken by:\n" + "\n".join(violations)


def test_no_import_cycle_at_module_level(project):
    modules, imports = project
    cycles = import_cycles(imports)
    assert not cycles, "modules that import each other at module level:\n" + "\n".join(
        describe_cycle(cycle, modules) for cycle in cycles)


def test_no_application_module_over_the_size_limit(project):
    modules, _ = project
    too_long = oversized(modules, MAX_MODULE_LINES)
    assert not too_long, "split these modules into packages:\n" + "\n".join(too_long)


# --- the checker itself, on small trees ------------------------------------------------------------------

def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package_dir in {path.parent for path in root.rglob("*.py")}:
        if package_dir != root:
            (package_dir / "__init__.py").touch()


def scan(root: Path, packages=APPLICATION_PACKAGES):
    modules = find_modules(root, [package for package in packages if (root / package).is_dir()])
    return modules, find_imports(root, modules)


def broken_rules(root: Path) -> dict[str, list[str]]:
    modules, imports = scan(root)
    return {rule.name: found for rule in RULES if (found := rule_violations(rule, imports, modules))}


@pytest.mark.parametrize(("files", "rule", "offender"), [
    ({"core/money.py": "from partnerships.models import Partner\n", "partnerships/models.py": ""},
     "core imports no project app", "core/money.py:1 (core.money) imports partnerships.models"),
    ({"core/money.py": "def f():\n    import config.settings\n", "config/settings.py": ""},
     "core imports no project app", "core/money.py:2 (core.money) imports config.settings"),
    ({"ingestion/engine.py": "from payouts import ledger\n", "payouts/ledger.py": ""},
     "ingestion imports only core (of the project's packages)",
     "ingestion/engine.py:1 (ingestion.engine) imports payouts.ledger"),
    ({"partnerships/services.py": "import os\n\n\ndef f():\n    from payouts.models import Run\n",
      "payouts/models.py": ""},
     "partnerships never imports payouts", "partnerships/services.py:5 (partnerships.services) imports payouts.models"),
    ({"partnerships/eligibility.py": "import typing\n\nif typing.TYPE_CHECKING:\n    import payouts.models\n",
      "payouts/models.py": ""},
     "partnerships never imports payouts",
     "partnerships/eligibility.py:4 (partnerships.eligibility) imports payouts.models"),
    ({"partnerships/marketplace/services.py": "from ..marketplace.api.tokens import issue\n",
      "partnerships/marketplace/api/tokens.py": ""},
     "services and selectors never import admin, API or page modules",
     "partnerships/marketplace/services.py:1 (partnerships.marketplace.services) imports "
     "partnerships.marketplace.api.tokens"),
    ({"payouts/selectors/funds.py": "from payouts import admin\n", "payouts/admin/__init__.py": ""},
     "services and selectors never import admin, API or page modules",
     "payouts/selectors/funds.py:1 (payouts.selectors.funds) imports payouts.admin"),
    ({"partnerships/brand_services.py": "from partnerships.pages.views import x\n",
      "partnerships/pages/views.py": ""},
     "services and selectors never import admin, API or page modules",
     "partnerships/brand_services.py:1 (partnerships.brand_services) imports partnerships.pages.views"),
    ({"partnerships/marketplace/pages/views.py": "from ..api import filters\n",
      "partnerships/marketplace/api/filters.py": ""},
     "pages never import the API",
     "partnerships/marketplace/pages/views.py:1 (partnerships.marketplace.pages.views) imports "
     "partnerships.marketplace.api.filters"),
])
def test_each_rule_fires_naming_module_line_and_import(tmp_path, files, rule, offender):
    write_tree(tmp_path, files)
    broken = broken_rules(tmp_path)
    assert list(broken) == [rule]
    assert len(broken[rule]) == 1
    assert broken[rule][0].startswith(offender)
    assert "`" in broken[rule][0]  # the statement as written


def test_allowed_imports_break_no_rule(tmp_path):
    write_tree(tmp_path, {
        "core/money.py": "import decimal\nfrom django.db import models\n",
        "ingestion/engine.py": "from core import money\n",
        "payouts/services.py": "from partnerships.models import Partner\nfrom core.money import x\n",
        "partnerships/models.py": "",
        "partnerships/marketplace/pages/views.py": "from partnerships.marketplace import search\n",
        "partnerships/marketplace/search.py": "",
        "partnerships/admin/__init__.py": "from partnerships.services import enrolment_approve\n",
        "partnerships/services.py": "from partnerships.selectors import q\n",
        "partnerships/selectors.py": "",
    })
    assert broken_rules(tmp_path) == {}


def test_from_import_of_a_submodule_resolves_to_the_submodule_and_a_package_to_its_init(tmp_path):
    write_tree(tmp_path, {
        "payouts/services/__init__.py": "from .runs import run\nfrom . import settlement\n",
        "payouts/services/runs.py": "from payouts.formulas import pooled\nimport payouts.formulas\n",
        "payouts/services/settlement.py": "from ..formulas.pooled import split\n",
        "payouts/formulas/__init__.py": "", "payouts/formulas/pooled.py": "",
    })
    _, imports = scan(tmp_path)
    assert {(imp.source, imp.target) for imp in imports} == {
        ("payouts.services", "payouts.services.runs"), ("payouts.services", "payouts.services.settlement"),
        ("payouts.services.runs", "payouts.formulas.pooled"), ("payouts.services.runs", "payouts.formulas"),
        ("payouts.services.settlement", "payouts.formulas.pooled"),
    }


def test_a_module_level_cycle_is_reported_with_its_modules_in_order(tmp_path):
    write_tree(tmp_path, {
        "payouts/services.py": "from payouts.tasks import compute_task\n",
        "payouts/tasks.py": "from payouts import ledger\n",
        "payouts/ledger.py": "import payouts.services\n",
        "payouts/models.py": "from payouts.ledger import x\n",  # leads into the cycle, is not part of it
    })
    modules, imports = scan(tmp_path)
    cycles = import_cycles(imports)
    assert [[(imp.source, imp.target) for imp in cycle] for cycle in cycles] == [[
        ("payouts.ledger", "payouts.services"), ("payouts.services", "payouts.tasks"),
        ("payouts.tasks", "payouts.ledger")]]
    assert describe_cycle(cycles[0], modules).startswith(
        "payouts.ledger -> payouts.services -> payouts.tasks -> payouts.ledger\n"
        "    payouts/ledger.py:1 `import payouts.services`")


def test_function_level_and_type_checking_imports_make_no_cycle(tmp_path):
    write_tree(tmp_path, {
        "payouts/services.py": "from payouts.tasks import compute_task\n",
        "payouts/tasks.py": "def compute_task():\n    from payouts.services import run\n",
        "partnerships/services.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                    "    from partnerships.tasks import t\n",
        "partnerships/tasks.py": "from partnerships.services import s\n",
    })
    _, imports = scan(tmp_path)
    assert import_cycles(imports) == []
    assert {imp.module_level for imp in imports} == {True, False}  # both were read, only one kind counts


def test_class_body_and_try_block_imports_count_for_cycles(tmp_path):
    write_tree(tmp_path, {
        "core/a.py": "class A:\n    from core.b import x\n",
        "core/b.py": "try:\n    from core.a import A\nexcept ImportError:\n    A = None\n",
    })
    _, imports = scan(tmp_path)
    assert len(import_cycles(imports)) == 1


def test_modules_over_the_limit_are_named_and_migrations_are_not_read(tmp_path):
    write_tree(tmp_path, {
        "payouts/admin.py": "x = 1\n" * (MAX_MODULE_LINES + 1),
        "payouts/models.py": "x = 1\n" * MAX_MODULE_LINES,
        "payouts/migrations/0001_initial.py": "from payouts.admin import x\n" + "x = 1\n" * 1000,
    })
    modules, imports = scan(tmp_path)
    assert oversized(modules, MAX_MODULE_LINES) == [f"payouts/admin.py: {MAX_MODULE_LINES + 1} lines (limit 400)"]
    assert "payouts.migrations" not in {name.rsplit(".", 1)[0] for name in modules}
    assert imports == []

"""Ingestion imports only core (besides Django, third parties and itself): what a kind needs from its app is given
by the kind (its spec and registration), never imported."""

import ast
from pathlib import Path

import ingestion

APPS = {"partnerships", "payouts", "config"}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_ingestion_imports_no_other_app():
    root = Path(ingestion.__file__).parent
    offending = {
        f"{path.relative_to(root)}: {module}"
        for path in root.rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in APPS
    }
    assert offending == set()

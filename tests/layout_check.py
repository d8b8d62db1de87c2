"""The checker behind tests/test_layout.py: the project's modules and their imports, read with ast (nothing is
imported, no database), the import rules and the cycles among module-level imports.

A module is named by its dotted path (``partnerships/admin/__init__.py`` is ``partnerships.admin``). An import is
resolved to the most specific project module it names: ``from payouts import services`` imports
``payouts.services`` when that is a module, ``from payouts.services import run`` imports ``payouts.services``
(a package's ``__init__`` when it is a package), and ``from . import x`` is resolved from the importing module's
package. Imports of anything outside the project are dropped. Importing ``a.b.c`` also runs ``a`` and ``a.b``
(their ``__init__``); those edges are left out, or every package that imports its own submodules would be a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Module:
    name: str
    path: Path  # relative to the root
    lines: int
    is_package: bool


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the project module imported
    line: int
    text: str  # the statement as written
    module_level: bool  # runs when the module is imported (not in a function, not under `if TYPE_CHECKING:`)


@dataclass(frozen=True)
class Rule:
    """Modules matching `source` never import modules matching `forbidden`."""

    name: str
    source: Callable[[str], bool] = field(repr=False)
    forbidden: Callable[[str], bool] = field(repr=False)


# --- module matchers, used by the rules table ------------------------------------------------------------

def in_package(*packages: str) -> Callable[[str], bool]:
    """The packages themselves and every module under them."""
    return lambda name: any(name == package or name.startswith(package + ".") for package in packages)


def with_component(*components: str) -> Callable[[str], bool]:
    """Modules whose dotted path has one of these components (``partnerships.api.views`` has ``api``)."""
    return lambda name: any(part in components for part in name.split("."))


def service_or_selector(name: str) -> bool:
    """services.py / selectors.py, anything in a services/ or selectors/ package, and the ``<area>_services``,
    ``<area>_selectors`` modules of the flat layout (brand_services.py)."""
    return any(part in ("services", "selectors") or part.endswith(("_services", "_selectors"))
               for part in name.split("."))


# --- reading the tree ------------------------------------------------------------------------------------

def find_modules(root: Path, packages: Iterable[str], *,
                 skip_dirs: Iterable[str] = ("migrations",)) -> dict[str, Module]:
    skipped = set(skip_dirs)
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if skipped.intersection(relative.parts[:-1]):
                continue
            parts = list(relative.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            modules[".".join(parts)] = Module(".".join(parts), relative, len(path.read_text().splitlines()),
                                              is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_with_level(tree: ast.Module) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, with whether it runs when the module is imported."""

    def visit(node: ast.AST, module_level: bool) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, module_level
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            module_level = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, False)
            for child in node.orelse:
                yield from visit(child, module_level)
            return
        for child in ast.iter_child_nodes(node):
            yield from visit(child, module_level)

    yield from visit(tree, True)


def _resolve(name: str, modules: dict[str, Module]) -> str | None:
    """The most specific project module a dotted name reaches (``a.b.c`` → ``a.b`` when c is an attribute)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _base_package(module: Module, level: int) -> str:
    parts = module.name.split(".")
    if not module.is_package:
        parts.pop()
    return ".".join(parts[: len(parts) - level + 1])  # each level past the first is one package up


def find_imports(root: Path, modules: dict[str, Module]) -> list[Import]:
    found: list[Import] = []
    for module in modules.values():
        source = (root / module.path).read_text()
        tree = ast.parse(source, filename=str(module.path))
        for node, module_level in _imports_with_level(tree):
            text = ast.get_source_segment(source, node) or ast.unparse(node)
            text = " ".join(text.split()).replace("( ", "(").replace(", )", ")")
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [_resolve(alias.name, modules) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    package = _base_package(module, node.level)
                    base = f"{package}.{base}" if base and package else (base or package)
                for alias in node.names:
                    targets.append(_resolve(f"{base}.{alias.name}", modules) if alias.name != "*"
                                   else _resolve(base, modules))
            for target in dict.fromkeys(targets):
                if target is not None and target != module.name:
                    found.append(Import(module.name, target, node.lineno, text, module_level))
    return found


# --- the checks ------------------------------------------------------------------------------------------

def rule_violations(rule: Rule, imports: Iterable[Import], modules: dict[str, Module]) -> list[str]:
    return [f"{modules[imp.source].path}:{imp.line} ({imp.source}) imports {imp.target}: `{imp.text}`"
            for imp in imports if rule.source(imp.source) and rule.forbidden(imp.target)]


def import_cycles(imports: Iterable[Import]) -> list[list[Import]]:
    """Cycles among module-level imports: one cycle (its imports in order) for each group of modules that import
    each other (strongly connected component), so a tangle of many modules is reported once, with a path."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if imp.module_level:
            edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan; the graph is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, {})):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [_cycle_through(component, edges) for component in sorted(components)]


def _cycle_through(component: list[str], edges: dict[str, dict[str, Import]]) -> list[Import]:
    """The shortest cycle from the component's first module back to it (breadth first)."""
    members, start = set(component), component[0]
    came_from: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, imp in sorted(edges.get(node, {}).items()):
                if target not in members or target in came_from:
                    continue
                came_from[target] = imp
                if target == start:
                    path = [imp]
                    while path[0].source != start:
                        path.insert(0, came_from[path[0].source])
                    return path
                following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {component}")  # a component always has one


def describe_cycle(cycle: list[Import], modules: dict[str, Module]) -> str:
    chain = " -> ".join([imp.source for imp in cycle] + [cycle[0].source])
    steps = "\n".join(f"    {modules[imp.source].path}:{imp.line} `{imp.text}`" for imp in cycle)
    return f"{chain}\n{steps}"


def oversized(modules: dict[str, Module], limit: int) -> list[str]:
    return [f"{module.path}: {module.lines} lines (limit {limit})"
            for module in sorted(modules.values(), key=lambda module: -module.lines) if module.lines > limit]

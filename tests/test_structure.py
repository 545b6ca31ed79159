"""The shape of the code, checked: one-way imports, one registry entry per rule.

Read from the source with `ast`, so a newcomer's new module is checked the day it lands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from celery import current_app
from django.utils import translation

from alerts import dispatch
from alerts.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
# The project's own packages: every top-level folder that is a Python package.
PACKAGES = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").exists())
# Lower layers never import higher ones (STYLE.md "Dependencies flow one way").
LAYERS = {"care": {"diary", "alerts", "clinic", "privacy"}, "diary": {"alerts", "clinic", "privacy"}}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for package in PACKAGES
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts
}


def resolve(name: str) -> str | None:
    """The project module an import names (`from alerts import dispatch` is alerts.dispatch)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported(node: ast.Import | ast.ImportFrom, module: str) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}".strip(".")
        names = [f"{base}.{alias.name}" for alias in node.names] + [base]
    return {found for name in names if (found := resolve(name))}


def top_level_imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found |= imported(node, module)
    found.discard(module)
    return {m for m in found if not module.startswith(m + ".")}  # a package's own __init__


GRAPH = {module: top_level_imports(module) for module in MODULES}


def test_the_project_has_no_import_cycle():
    seen: dict[str, str] = {}  # module -> "active" | "done"

    def visit(module: str, path: list[str]) -> list[str] | None:
        seen[module] = "active"
        for target in sorted(GRAPH[module]):
            if seen.get(target) == "active":
                return [*path, module, target]
            if target not in seen and (cycle := visit(target, [*path, module])):
                return cycle
        seen[module] = "done"
        return None

    for module in sorted(GRAPH):
        if module not in seen:
            assert visit(module, []) is None, "import cycle"


def test_no_function_imports_a_project_module_but_an_app_registry_hook():
    """An import inside a function is how a cycle hides; only AppConfig.ready, which Django
    runs once the models can be imported, may import there."""
    hidden = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "ready":
                hidden += [
                    f"{path.relative_to(ROOT)}:{sub.lineno}"
                    for sub in ast.walk(node)
                    if isinstance(sub, ast.Import | ast.ImportFrom) and imported(sub, module)
                ]
    assert hidden == []


def test_dependencies_flow_one_way_from_care_to_diary_to_alerts():
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target.split(".")[0] in LAYERS.get(module.split(".")[0], set())
    ]
    assert wrong == []


def test_the_broker_dispatch_is_a_leaf_and_tasks_are_imported_by_no_module():
    assert not {m for m in GRAPH["alerts.dispatch"] if m.startswith("alerts.")}
    product = [m for m in GRAPH if not m.startswith("tests.")]
    assert [m for m in product if "alerts.tasks" in GRAPH[m]] == []


def test_every_task_the_dispatcher_names_is_registered():
    names = [
        value for name, value in vars(dispatch).items() if name.isupper() and str(value).startswith("alerts.")
    ]
    assert names
    assert [name for name in names if name not in current_app.tasks] == []


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_has_a_label_in_english_and_italian(code):
    rule = RULES[code]
    english = str(rule.label)
    with translation.override("it"):
        italian = str(rule.label)
    assert english.strip()
    assert italian.strip()
    assert italian != english, f"{code}: no Italian label"

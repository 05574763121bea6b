"""The package's shape: imports flow one way, vendor clients only in `adapters/`, no cycles."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = "ingress2tailscale"
# what each part of the domain package may import of the package (besides itself)
BASE = {"errors", "kinds", "model", "config", "manifest_yaml", "limits"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "limits": set(),
    "kinds": set(),
    "manifest_yaml": set(),
    "model": {"errors", "manifest_yaml"},
    "config": {"errors", "kinds"},
    "report": {"model"},
    "repo": BASE,
    "edit": BASE | {"repo"},
    "checks": BASE | {"repo", "edit"},
    "plan": BASE | {"repo", "edit", "checks"},
    "adapters": BASE | {"edit"},
    "steps": BASE | {"repo", "edit", "checks", "plan", "adapters"},
    "sandbox": BASE | {"repo", "edit", "checks", "plan", "adapters", "steps", "report"},
}
VENDOR_CLIENTS = {"httpx", "git", "kubernetes"}  # only adapters/ talk to these
NEVER = {"prefect"}  # the domain never imports the orchestrator


def modules(root: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        yield ".".join(p for p in parts if p != "__init__"), path


def imports_of(path: Path) -> Iterator[str]:
    """Every module an import statement of `path` names (function-level ones too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def part_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def violations(root: Path) -> list[str]:
    """Rule breaks in the package at `root`, one line per module and rule."""
    found: set[str] = set()
    known = {name for name, _ in modules(root)}
    for name, path in modules(root):
        part = part_of(name)
        for imported in imports_of(path):
            top = imported.split(".")[0]
            if top in NEVER:
                found.add(f"{name} imports {top}: the domain package never imports it")
            elif top in VENDOR_CLIENTS and part != "adapters":
                found.add(f"{name} imports {top}: only adapters/ may")
            elif top == PACKAGE and imported in known:
                other = part_of(imported)
                if other and other != part and other not in ALLOWED.get(part, set()):
                    found.add(f"{name} imports {PACKAGE}.{other}: {part} may not import {other}")
    return sorted(found)


def import_graph(root: Path) -> dict[str, set[str]]:
    known = {name for name, _ in modules(root)}
    return {
        name: {m for m in imports_of(path) if m in known and m != name}
        for name, path in modules(root)
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_domain_package_keeps_its_import_rules() -> None:
    assert violations(ROOT / PACKAGE) == []


def test_the_domain_package_has_no_import_cycle() -> None:
    assert cycles(import_graph(ROOT / PACKAGE)) == []


def test_the_top_level_holds_at_most_eight_modules() -> None:
    top = [p.name for p in (ROOT / PACKAGE).glob("*.py")]
    assert len(top) <= 8, sorted(top)


def test_every_subpackage_says_what_it_may_import() -> None:
    for init in (ROOT / PACKAGE).glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc, init


@pytest.mark.parametrize(
    ("where", "source", "expected"),
    [
        ("plan/bad.py", "import prefect\n", "never imports it"),
        ("repo/bad.py", "from prefect import flow\n", "never imports it"),
        ("steps/bad.py", "def f():\n    import httpx\n", "only adapters/ may"),
        ("checks/bad.py", "from git import Repo\n", "only adapters/ may"),
        ("repo/bad.py", "from ingress2tailscale.plan import planner\n", "repo may not import plan"),
        ("adapters/ok.py", "import httpx\nimport git\n", None),
    ],
)
def test_the_rules_catch_a_module_that_breaks_them(
    tmp_path: Path, where: str, source: str, expected: str | None
) -> None:
    root = tmp_path / PACKAGE
    for folder in ("plan", "repo", "steps", "checks", "adapters"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "plan" / "planner.py").write_text("")
    (root / where).write_text(source)
    found = violations(root)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]

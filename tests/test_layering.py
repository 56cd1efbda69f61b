"""The layout's rules, read from the imports themselves (`ast`, so nothing is imported to check).

- `domain/` imports only the standard library and `domain`: no I/O library, no framework.
- Nothing below the HTTP surface (`domain`, `store`, `realtime`, `resolvers`, `jobs`,
  `integrations`) imports `api`, `server` or `sandbox`.
- No import cycle between modules, function-local imports included.
- No product module over 300 lines.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = (
    "api",
    "domain",
    "integrations",
    "jobs",
    "realtime",
    "resolvers",
    "sandbox",
    "server",
    "store",
    "web",
)
BELOW_API = ("domain", "store", "realtime", "resolvers", "jobs", "integrations")
ABOVE = ("api", "server", "sandbox")
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PRODUCT for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = _modules()


def _imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, anywhere in it; `from a import b` names `a.b` when that is a module."""
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if full in MODULES else base


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    stray = {
        (module, imported)
        for module, path in MODULES.items()
        if _top(module) == "domain"
        for imported in _imports(path)
        if _top(imported) not in {"domain", "__future__"} and _top(imported) not in sys.stdlib_module_names
    }
    assert not stray, sorted(stray)


def test_nothing_below_the_http_surface_imports_upward() -> None:
    upward = {
        (module, imported)
        for module, path in MODULES.items()
        if _top(module) in BELOW_API
        for imported in _imports(path)
        if _top(imported) in ABOVE
    }
    assert not upward, sorted(upward)


def _graph() -> dict[str, set[str]]:
    return {
        module: {i for i in _imports(path) if i in MODULES} - {module} for module, path in MODULES.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def test_no_import_cycle_between_modules() -> None:
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_product_module_over_300_lines() -> None:
    long = {
        module: n for module, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_readme_layout_table_matches_the_tree() -> None:
    """Every top-level folder of the repository has a row, and every row a folder."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)/` \|", table, flags=re.MULTILINE))
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    folders = {line.split("/", 1)[0] for line in tracked.stdout.splitlines() if "/" in line}
    folders = {f for f in folders if not f.startswith(".")}  # .ci, tool settings
    assert rows == folders, f"in the table only: {rows - folders}; in the tree only: {folders - rows}"

"""zoe.core and zoe.policies import nothing from the layers below them (DESIGN.md §2).

The check reads the source with :mod:`ast`, so it sees every import, including
those inside functions and under ``TYPE_CHECKING``, without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZOE_DIR = Path(__file__).resolve().parents[1] / "zoe"

# I/O and heavy libraries the decision layers must not import
FORBIDDEN_LIBRARIES = frozenset(
    {
        "simpy",
        "zmq",
        "docker",
        "psycopg2",
        "psycopg",
        "fastapi",
        "starlette",
        "uvicorn",
        "matplotlib",
        "pandas",
        "requests",
        "httpx",
        "sqlalchemy",
        "dask",
    }
)
# the layers below zoe.core and zoe.policies; zoe.core also sits above zoe.policies
FORBIDDEN_PACKAGES = {
    "core": ("zoe.policies", "zoe.sim", "zoe.live", "zoe.api", "zoe.cli"),
    "policies": ("zoe.sim", "zoe.live", "zoe.api", "zoe.cli"),
}


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """Every module ``source`` imports, with its line; relative imports resolved.

    ``module`` is the dotted name of the file read (``zoe.core.zapp``).
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level]
                base = ".".join([*parent, base] if base else parent)
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def violations(source: str, module: str, layer: str) -> list[str]:
    """The forbidden imports of one file, as ``module:line: name`` lines."""
    result = []
    for line, name in imported_modules(source, module):
        top = name.split(".")[0]
        below = any(
            name == p or name.startswith(p + ".") for p in FORBIDDEN_PACKAGES[layer]
        )
        if top in FORBIDDEN_LIBRARIES or below:
            result.append(f"{module}:{line}: {name}")
    return result


def layer_files(layer: str) -> list[Path]:
    return sorted((ZOE_DIR / layer).rglob("*.py"))


def module_name(path: Path) -> str:
    """The dotted name of a file; ``__init__`` is kept so relative imports resolve."""
    return ".".join(path.relative_to(ZOE_DIR.parent).with_suffix("").parts)


@pytest.mark.parametrize("layer", ["core", "policies"])
def test_layer_imports_nothing_from_below(layer: str) -> None:
    files = layer_files(layer)
    assert files, f"no Python files found under {ZOE_DIR / layer}"

    found = []
    for path in files:
        found += violations(path.read_text("utf-8"), module_name(path), layer)

    assert found == [], "forbidden imports:\n" + "\n".join(found)


def test_core_files_are_found() -> None:
    names = {module_name(path) for path in layer_files("core")}

    assert {"zoe.core.__init__", "zoe.core.zapp", "zoe.core.cluster"} <= names


@pytest.mark.parametrize(
    ("source", "module", "layer", "expected"),
    [
        ("import simpy", "zoe.core.x", "core", ["zoe.core.x:1: simpy"]),
        ("import simpy.rt as rt", "zoe.core.x", "core", ["zoe.core.x:1: simpy.rt"]),
        (
            "from zoe.sim.engine import Engine",
            "zoe.policies.x",
            "policies",
            [
                "zoe.policies.x:1: zoe.sim.engine",
                "zoe.policies.x:1: zoe.sim.engine.Engine",
            ],
        ),
        ("from zoe import live", "zoe.core.x", "core", ["zoe.core.x:1: zoe.live"]),
        (
            "from ..sim import engine",
            "zoe.policies.x",
            "policies",
            ["zoe.policies.x:1: zoe.sim", "zoe.policies.x:1: zoe.sim.engine"],
        ),
        (
            "def f():\n    import docker\n",
            "zoe.core.x",
            "core",
            ["zoe.core.x:2: docker"],
        ),
        (
            "from zoe.policies import base",
            "zoe.core.x",
            "core",
            ["zoe.core.x:1: zoe.policies", "zoe.core.x:1: zoe.policies.base"],
        ),
        ("from zoe.core import zapp", "zoe.policies.x", "policies", []),
        ("from . import zapp", "zoe.core.x", "core", []),
        (
            "from ..sim import engine",
            "zoe.policies.__init__",
            "policies",
            [
                "zoe.policies.__init__:1: zoe.sim",
                "zoe.policies.__init__:1: zoe.sim.engine",
            ],
        ),
        ("import simpyish\nimport zoe.simple", "zoe.core.x", "core", []),
    ],
)
def test_the_check_finds_forbidden_imports(
    source: str, module: str, layer: str, expected: list[str]
) -> None:
    assert violations(source, module, layer) == expected

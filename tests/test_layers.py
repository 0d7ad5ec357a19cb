"""The package's imports run one way, down a documented order, and no module uses another's
underscore names.

Every module of ``itniotech_async`` is parsed with :mod:`ast` (nothing is
imported) and every import in it counts: top-level, under ``TYPE_CHECKING``,
and inside functions, relative ones resolved. ``from .x import y`` is an
edge to ``x``, or to ``x.y`` when that is a module.

The rules:

- no cycle between modules (a package's ``__init__`` is a module of its own);
- each module sits in one layer of :data:`LAYERS` (bottom first; the longest
  matching name wins, and a package's name covers its modules) and imports
  only from its own layer or lower ones;
- ``testing/`` imports only the bottom layers of the core (its pytest plugin,
  which hands out a client, excepted);
- no module reads an underscore attribute (``x._name``, not a dunder) that it
  does not define itself, on anything but ``self`` or ``cls``, and none
  imports an underscore name from another module of the package. "Defines"
  means the module has a ``def``/``class`` of that name, assigns it at class
  or module level, or assigns ``self._name``/``cls._name``: within a module,
  objects of its own classes may reach each other's state (a stream and its
  reader), while ``client._request`` in another module, or
  ``_decode._loads`` from anywhere, fails. The few uses of a foreign
  library's private attribute are listed with their reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import itniotech_async

PACKAGE = "itniotech_async"
ROOT = Path(itniotech_async.__file__).parent

#: The documented order, bottom first (docs/design.md, "Layers", draws it).
#: Names are relative to the package; ``__init__`` is the package itself.
LAYERS: list[list[str]] = [
    ["_errors", "_models", "_times", "_version", "_iterator", "_limiter"],
    ["_checks", "_query", "_converter", "_auth", "_decode", "_serialize", "_http"],
    ["_transport", "_background"],
    ["_requester"],
    ["_planner"],
    ["_pagination"],
    ["_recordings", "_voice"],
    ["_client"],
    ["__init__"],
    ["testing"],
    ["archive"],
    ["_cli", "__main__"],
]
#: How many layers from the bottom ``testing/`` may import.
TESTING_MAY_USE = 2
#: Modules of ``testing/`` that may import anything below them.
TESTING_ON_TOP = {"testing.pytest_plugin"}

#: Private attributes of other libraries' objects that are read on purpose.
FOREIGN_PRIVATE = {
    # aiohttp has no public switch for its silent resend of idempotent requests.
    ("_transport", "_retry_connection"),
}


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Each module's name relative to the package (``__init__`` for the package) and file."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _package_of(name: str, path: Path) -> list[str]:
    """The package a module's relative imports start from, as parts (``[]`` for the root)."""
    parts = [] if name == "__init__" else name.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The modules of the package that ``name`` imports, wherever in it the import is."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_local(alias.name.split("."), modules))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(name, path)
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module:
                target = node.module.split(".")
                if target[0] != PACKAGE:
                    continue
                target = target[1:]
            else:  # pragma: no cover - "from import" is not Python
                continue
            for alias in node.names:
                found.update(_local([*target, alias.name], modules) or _local(target, modules))
    found.discard(name)
    return found


def _local(parts: list[str], modules: Mapping[str, Path]) -> set[str]:
    if parts and parts[0] == PACKAGE:
        parts = parts[1:]
    name = ".".join(parts) or "__init__"
    return {name} if name in modules else set()


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = module_files(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(name: str) -> int:
    """The index in :data:`LAYERS` of the longest entry that names ``name`` or its package."""
    matches = [
        (len(entry), level)
        for level, entries in enumerate(LAYERS)
        for entry in entries
        if name == entry or name.startswith(entry + ".")
    ]
    if not matches:
        raise LookupError(f"{name} is in no layer: add it to LAYERS in tests/test_layers.py")
    return max(matches)[1]


def _defined_names(tree: ast.AST) -> set[str]:
    """Underscore names a module defines: functions, classes, and assigned attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            names.update(
                item.value
                for item in ast.walk(node.value)
                if isinstance(item, ast.Constant) and isinstance(item.value, str)
            )
    return {name for name in names if _private(name)}


_MODULE_NAMES = {name.rpartition(".")[2] for name in module_files()}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(name: str, source: str) -> Iterator[str]:
    """Each use in ``source`` (module ``name``) of an underscore name it does not define."""
    tree = ast.parse(source)
    own = _defined_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in own or (name, node.attr) in FOREIGN_PRIVATE:
                continue
            yield f"{name}:{node.lineno}: {ast.unparse(node)}"
        elif isinstance(node, ast.ImportFrom) and (node.level or node.module == PACKAGE):
            # (Modules are private by name: importing one is fine.)
            for alias in node.names:
                if _private(alias.name) and alias.name not in _MODULE_NAMES:
                    yield f"{name}:{node.lineno}: imports {alias.name}"


def test_no_import_cycles() -> None:
    """No two modules of the package import each other, directly or through others."""
    assert cycles(import_graph()) == []


def test_imports_point_down_the_layers() -> None:
    """Each module imports only from its own layer or lower ones, in LAYERS' order."""
    upward = [
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(name)
    ]
    assert upward == []


def test_testing_uses_only_the_bottom_layers() -> None:
    """The fake server and its helpers use only the bottom layers of the core."""
    core = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name.startswith("testing") and name not in TESTING_ON_TOP
        for target in sorted(targets)
        if not target.startswith("testing") and layer_of(target) >= TESTING_MAY_USE
    ]
    assert core == []


def test_no_module_uses_another_modules_underscore_names() -> None:
    """No module reads an underscore attribute it does not define, or imports one."""
    found = [
        use
        for name, path in module_files().items()
        for use in private_uses(name, path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_checks_can_fail() -> None:
    """A cycle, an upward import and a reach into another module's private name are caught."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert layer_of("_client") > layer_of("_requester") > layer_of("_errors")
    assert layer_of("_cli._archive") > layer_of("archive._store")
    with pytest.raises(LookupError):
        layer_of("_somewhere_new")
    reach = "async def f(client):\n    return await client._request('GET', '/')\n"
    assert list(private_uses("_voice", reach)) == ["_voice:2: client._request"]
    own = "class A:\n    def __init__(self):\n        self._x = 1\n\ndef f(a):\n    return a._x\n"
    assert list(private_uses("_voice", own)) == []
    assert list(private_uses("_voice", "from ._client import _loads\n")) == [
        "_voice:1: imports _loads"
    ]


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Imports under TYPE_CHECKING, inside functions and of sibling packages are all edges."""
    (tmp_path / "sub").mkdir()
    files = {
        "__init__.py": "from ._a import A\n",
        "_a.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._b import B\n"),
        "_b.py": "def f():\n    from .sub import _c\n",
        "sub/__init__.py": "",
        "sub/_c.py": "from .. import _a\nfrom ..sub import _d\n",
        "sub/_d.py": "import itniotech_async._a\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).write_text(text)
    assert import_graph(tmp_path) == {
        "__init__": {"_a"},
        "_a": {"_b"},
        "_b": {"sub._c"},
        "sub": set(),
        "sub._c": {"_a", "sub._d"},
        "sub._d": {"_a"},
    }
    assert cycles(import_graph(tmp_path)) == [frozenset({"_a", "_b", "sub._c", "sub._d"})]

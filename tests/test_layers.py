"""The layout is the data flow: each part of ``hachi`` imports only the parts before it.

Read from the source (no imports run), so a module that reaches back up the chain, or two
modules that import each other, fail here before they tangle the code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hachi"

# Earlier parts never import later ones. The first row holds the small base modules every
# layer may use; catalog/ and vectors/ come before the indexer, which writes them.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "paths", "textnorm", "stopping"),
    ("media",),
    ("ml",),
    ("vectors",),
    ("catalog",),
    ("indexer",),
    ("search",),
    ("library_models", "library_people", "library_albums", "library_duplicates"),
    ("library",),
    ("server",),
    ("cli",),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every ``hachi.*`` module a file imports, at any depth (lazy imports count too);
    ``from hachi.vectors import q8`` imports the module ``hachi.vectors.q8``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("hachi."):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    yield sub if _is_module(sub) else node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("hachi."))


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative).is_dir()


def part_of(module: str) -> str:
    return module.split(".")[1]


MODULES = {module_name(p): sorted(set(imports(p))) for p in PACKAGE.rglob("*.py")}


def test_every_part_has_a_layer() -> None:
    parts = {part_of(m) for m in MODULES if m != "hachi"}
    assert parts <= set(RANK), f"place these in LAYERS: {sorted(parts - set(RANK))}"


def test_no_part_imports_a_later_one() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in MODULES.items()
        if module != "hachi"
        for target in targets
        if RANK[part_of(target)] > RANK[part_of(module)]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over modules: every one must be alone."""
    graph = {m: [t for t in targets if t in MODULES] for m, targets in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, cycles


def test_starting_the_cli_server_or_indexer_loads_neither_onnx_nor_opencv() -> None:
    """onnx (17 MB, 0.8 s) only builds the search kernels and OpenCV (15 MB) only
    normalises photos for CLIP: a `hachi` command, the server and the indexer import them
    when that work first comes, not at start."""
    script = (
        "import sys, hachi.cli.main, hachi.server.app, hachi.indexer.runner; "
        "loaded = sorted({'onnx', 'cv2'} & set(sys.modules)); "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", script], check=True)

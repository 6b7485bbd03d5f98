"""The code's structure: no import cycle in the host package or the device app (local imports
included: a cycle hidden in a function is still a cycle), and one list of the app's modules."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from neuroedge.project import APP_MODULES, DEVICE_APP_DIR, ROOT


def imports_of(folder: Path, package: bool) -> dict[str, set[str]]:
    """Module -> the modules of the same folder it imports, anywhere in its code. package: the
    folder is a package (relative imports) rather than a flat MicroPython app (absolute ones)."""
    graph = {}
    for path in sorted(folder.glob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level == 1) == package:
                found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif isinstance(node, ast.Import) and not package:
                found.update(a.name.split(".")[0] for a in node.names)
        graph[path.stem] = {m for m in found if (folder / f"{m}.py").exists() and m != path.stem}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, seen = [], set()

    def walk(module, path):
        for dep in sorted(graph[module]):
            if dep in path:
                cycle = path[path.index(dep):] + [dep]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(cycle)
            else:
                walk(dep, path + [dep])

    for module in graph:
        walk(module, [module])
    return found


def test_no_import_cycles_in_the_host_package_or_the_device_app():
    host = imports_of(ROOT / "host" / "neuroedge", package=True)
    app = imports_of(DEVICE_APP_DIR, package=False)
    assert host["cli"] and app["app"]  # the walk sees imports at all
    assert cycles(host) == [] and cycles(app) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_mip_installs_the_modules_deploy_installs():
    package = json.loads((DEVICE_APP_DIR.parent / "package.json").read_text())
    assert [name for name, _ in package["urls"]] == list(APP_MODULES)
    assert all(url == f"app/{name}" for name, url in package["urls"])
    assert sorted(APP_MODULES) == sorted(p.name for p in DEVICE_APP_DIR.glob("*.py") if p.name != "stream_bench.py")

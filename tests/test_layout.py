"""The code's structure: no import cycle in the host package or the device app (local imports
included: a cycle hidden in a function is still a cycle), and one list of the app's modules."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from neuroedge.project import APP_MODULES, DEVICE_APP_DIR, EMULATOR_SCRIPTS, ROOT


def imports_of(folder: Path, package: bool) -> dict[str, set[str]]:
    """Module -> the modules of the same folder it imports, anywhere in its code. package: the
    folder is a package (relative imports, subpackages as "bench.mcu") rather than a flat
    MicroPython app (absolute imports)."""
    paths = sorted(folder.rglob("*.py") if package else folder.glob("*.py"))
    names = {path: ".".join(path.relative_to(folder).with_suffix("").parts).removesuffix(".__init__")
             for path in paths}
    known = set(names.values())
    graph = {}
    for path, name in names.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and package and node.level:
                base = name.split(".")[:len(name.split(".")) - node.level + (path.name == "__init__.py")]
                base = base if name.count(".") + 1 >= node.level else []
                where = base + (node.module.split(".") if node.module else [])
                found.add(".".join(where))
                found.update(".".join(where + [a.name]) for a in node.names)  # submodules by name
            elif isinstance(node, ast.ImportFrom) and not package and not node.level:
                found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif isinstance(node, ast.Import) and not package:
                found.update(a.name.split(".")[0] for a in node.names)
        graph[name] = {m for m in found if m in known and m != name}
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
    assert {"bench.engine", "bench.mcu"} <= host["cli"] and "bundle" in host["bench.mcu"]  # subpackages too
    assert cycles(host) == [] and cycles(app) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_every_public_class_and_function_of_the_host_package_has_a_docstring():
    import importlib
    import inspect
    import pkgutil

    import neuroedge

    missing = []
    for info in pkgutil.walk_packages(neuroedge.__path__, "neuroedge."):
        if info.name.endswith("__main__"):
            continue  # running it is the CLI
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ != module.__name__:
                continue  # imported from elsewhere
            members = [(name, obj)] + [(f"{name}.{m}", f) for m, f in vars(obj).items()
                                       if inspect.isclass(obj) and not m.startswith("_") and inspect.isfunction(f)]
            missing += [f"{info.name}.{n}" for n, o in members if not (o.__doc__ or "").strip()]
    assert missing == []


def test_mip_installs_the_modules_deploy_installs():
    package = json.loads((DEVICE_APP_DIR.parent / "package.json").read_text())
    assert [name for name, _ in package["urls"]] == list(APP_MODULES)
    assert all(url == f"app/{name}" for name, url in package["urls"])
    assert sorted(APP_MODULES) == sorted(p.name for p in DEVICE_APP_DIR.glob("*.py") if p.name not in EMULATOR_SCRIPTS)

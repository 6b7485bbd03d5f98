"""device/native/edgedl.pyi says what the edgedl module has: the module in the emulator has
exactly its names at module level and each type's methods, and every attribute the stub lists
(attributes come from an attr handler, which dir() does not list: an extra one goes unseen)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

STUB = Path(__file__).parents[1] / "device" / "native" / "edgedl.pyi"


def stub_names() -> dict:
    """{"": module-level public names, type name: its public methods and attributes}."""
    tree = ast.parse(STUB.read_text())
    names = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[""].add(node.name)
            members = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign):
                    members.add(item.target.id)
            names[node.name] = members
        elif isinstance(node, ast.FunctionDef):
            names[""].add(node.name)
        elif isinstance(node, ast.AnnAssign) and (not node.target.id.startswith("_")
                                                  or node.target.id == "__version__"):
            names[""].add(node.target.id)
    return names


def test_the_module_has_exactly_what_the_stub_says(emulator):
    from neuroedge import native
    from neuroedge.bench import zoo

    names = stub_names()
    model = zoo.build_zoo(native.BUILD_DIR / "zoo", [zoo.REFERENCE_MODEL])[zoo.REFERENCE_MODEL]
    emulator.board_path("m.tflite").write_bytes(model.read_bytes())
    # Attributes come from an attr handler (not listed by dir()): ask each name the stub gives,
    # and list what dir() shows (the methods), so that both directions are checked.
    code = ("import edgedl, json\n"
            "objs = {'Stream': edgedl.Stream(4, 2), 'Model': edgedl.Model(open('m.tflite', 'rb').read()),\n"
            "        'Preprocess': edgedl.Preprocess(4), 'LinkDecoder': edgedl.LinkDecoder(),\n"
            "        'Quality': edgedl.Quality(4, 2048)}\n"
            f"stub = {json.dumps({k: sorted(v) for k, v in names.items()})}\n"
            "out = {'': sorted(n for n in dir(edgedl) if not n.startswith('_') or n == '__version__')}\n"
            "for t, o in objs.items():\n"
            "    shown = set(n for n in dir(o) if not n.startswith('_'))\n"
            "    for n in stub[t]:\n"
            "        try:\n"
            "            getattr(o, n)\n"
            "            shown.add(n)\n"
            "        except AttributeError:\n"
            "            pass\n"
            "    out[t] = sorted(shown)\n"
            "print(json.dumps(out))\n")
    seen = json.loads(emulator.run(code).check().stdout)
    assert {k: set(v) for k, v in seen.items()} == names


def test_the_channel_limit_is_the_same_for_the_board_rules_the_host_and_the_module(emulator):
    """bundle_rules.py runs on the host too, where edgedl cannot be imported: its copy of the limit is
    held to the module's here."""
    from neuroedge import bundle, recording

    module, rules = map(int, emulator.run("import edgedl, bundle_rules\nprint(edgedl.MAX_CHANNELS)\n"
                                          "print(bundle_rules.MAX_CHANNELS)").check().stdout.split())
    assert module == rules == bundle.rules.MAX_CHANNELS == recording.max_channels()

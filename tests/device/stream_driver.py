# Runs Stream scenarios on the emulated board (MicroPython).
# scenarios.json: a list of {config, data, ops}; ops are ["push", nbytes, kind]
# (kind: bytes | bytearray | memoryview | array) or ["read", count].
# Writes windows read (raw int16) to <data>.windows and prints one JSON line
# per scenario with every push result, read result and stats snapshot.
import array
import json

import edgedl


def as_kind(chunk, kind):
    if kind == "bytearray":
        return bytearray(chunk)
    if kind == "memoryview":
        # An odd offset into a larger buffer: unaligned, like a socket buffer slice.
        return memoryview(b"\x00" + chunk)[1:]
    if kind == "array":
        if len(chunk) % 2:
            return chunk  # array('h') holds whole samples only
        a = array.array("h")
        a.extend(array.array("h", chunk))
        return a
    return chunk


def run_scenario(sc):
    cfg = sc["config"]
    stream = edgedl.Stream(cfg["channels"], cfg["window"], hop=cfg["hop"], capacity=cfg["capacity"],
                           select=cfg["select"] if cfg["select_kind"] != "range" else range(*cfg["select"]))
    out = array.array("h", bytes(2 * cfg["window"] * stream.channels))
    log = []
    with open(sc["data"], "rb") as src, open(sc["data"] + ".windows", "wb") as dst:
        for op in sc["ops"]:
            if op[0] == "push":
                log.append(stream.push(as_kind(src.read(op[1]), op[2])))
            else:
                got = 0
                ready = stream.ready()
                for _ in range(op[1]):
                    if not stream.read(out):
                        break
                    dst.write(out)
                    got += 1
                log.append([ready, got, stream.stats()])
    return {"log": log, "stats": stream.stats(),
            "attrs": [stream.channels, stream.in_channels, stream.window, stream.hop, stream.capacity]}


with open("scenarios.json") as f:
    scenarios = json.load(f)
for sc in scenarios:
    print(json.dumps(run_scenario(sc)))

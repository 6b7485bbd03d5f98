# Runs a batch of inputs through edgedl.Model, file to file, on the board or in
# the emulator (`neuroedge infer` and `neuroedge bench engine` drive it).
import array
import json
import time

import edgedl


def _load(model_path):
    import sys

    import bundle_rules  # its load_model, then its code goes (heap)

    try:
        return bundle_rules.load_model(model_path, edgedl)[0]
    finally:
        del sys.modules["bundle_rules"]


def _describe(model):
    return {
        "input_shape": model.input_shape, "input_dtype": model.input_dtype,
        "output_shape": model.output_shape, "output_dtype": model.output_dtype,
        "input_quantization": model.input_quantization, "output_quantization": model.output_quantization,
        "arena_bytes": model.arena_bytes, "meta_bytes": model.meta_bytes, "ops": model.ops, "macs": model.macs,
    }


def _nbytes(shape, dtype):
    n = 1 if dtype == "int8" else 4
    for d in shape:
        n *= d
    return n


def describe(model_path):
    print(json.dumps(_describe(_load(model_path))))


def _records(src, buf, what):
    """Fills buf from src once per record, until the file ends (not inside a record)."""
    size = len(buf) * (2 if isinstance(buf, array.array) else 1)
    while True:
        n = src.readinto(buf)
        if not n:
            return
        if n != size:
            raise ValueError("%s file ends inside a record (%d of %d bytes)" % (what, n, size))
        yield buf


def run(model_path, inputs_path, outputs_path):
    """Invokes the model on every input record of inputs_path; writes outputs_path."""
    model = _load(model_path)
    inbuf = bytearray(_nbytes(model.input_shape, model.input_dtype))
    outbuf = bytearray(_nbytes(model.output_shape, model.output_dtype))
    count = 0
    with open(inputs_path, "rb") as src, open(outputs_path, "wb") as dst:
        for _ in _records(src, inbuf, "inputs"):
            model.invoke(inbuf, outbuf)
            dst.write(outbuf)
            count += 1
    report = _describe(model)
    report["invokes"] = count
    print(json.dumps(report))


def run_tracked(model_path, windows_path, outputs_path, settings_path):
    """Classifies int16 windows (a stream, in order) as the runtime does with drift tracking:
    offsets off, quantize, invoke, then a tracking step for the class decided; writes the
    outputs. settings: {"from_counts": {...}, "width": n, "drift": model.json's "drift",
    "starts": [window indices where a new stream begins: the offsets start again]}."""
    from runtime import best_of  # the runtime's own decision (this tool alone does not need its heap)

    model = _load(model_path)
    with open(settings_path) as f:
        s = json.load(f)
    q, width, d, starts = s["from_counts"], s["width"], s["drift"], s.get("starts", [0])
    means = array.array("h", [v for row in d["class_means"] for v in row])
    offsets = array.array("i", bytes(4 * width))
    win = array.array("h", bytes(_nbytes(model.input_shape, "int8") * 2))
    qin = bytearray(len(win))
    outbuf = bytearray(_nbytes(model.output_shape, model.output_dtype))
    count = 0
    with open(windows_path, "rb") as src, open(outputs_path, "wb") as dst:
        for _ in _records(src, win, "windows"):
            if count in starts:
                for c in range(width):
                    offsets[c] = 0
            edgedl.drift_apply(win, width, offsets)
            edgedl.quantize(win, qin, q["mult"], q["shift"], q["zero_point"])
            model.invoke(qin, outbuf)
            best = best_of(outbuf)[0]
            edgedl.drift_track(win, width, means, best, d["rate_shift"], offsets)
            dst.write(outbuf)
            count += 1
    report = _describe(model)
    report["invokes"] = count
    print(json.dumps(report))


def bench(model_path, inputs_path, rounds):
    """Times invoke() on the first input record: microseconds per invoke for each
    round, a round being enough back-to-back invokes to last about 5 ms."""
    model = _load(model_path)
    inbuf = bytearray(_nbytes(model.input_shape, model.input_dtype))
    outbuf = bytearray(_nbytes(model.output_shape, model.output_dtype))
    with open(inputs_path, "rb") as src:
        src.readinto(inbuf)
    t0 = time.ticks_us()
    model.invoke(inbuf, outbuf)  # also warms up
    single = max(1, time.ticks_diff(time.ticks_us(), t0))
    inner = max(1, 5000 // single)
    per_invoke = []
    for _ in range(rounds):
        t0 = time.ticks_us()
        for _ in range(inner):
            model.invoke(inbuf, outbuf)
        per_invoke.append(time.ticks_diff(time.ticks_us(), t0) / inner)
    report = _describe(model)
    report["us"] = per_invoke
    report["output"] = bytes(outbuf).hex()
    print(json.dumps(report))

# The rules of a model bundle's model.json: the one check, run by the board when it
# loads a bundle (runtime.load_bundle) and by the host before it evaluates, replays,
# describes or deploys one (neuroedge.bundle.load), so a bundle the board would refuse
# or run wrongly is refused on the host first, with the same message.
#
#   meta = check(meta)       # the fields; BundleError names the field and the rule
#   matches(meta, model)     # ... against the model itself: an edgedl.Model on the
#                            # board, the same facts read from the .tflite on the host
#
# Plain Python for MicroPython and CPython alike (% formatting, no typing).

SCHEMA = "neuroedge-bundle"
VERSION = 1

MAX_CHANNELS = 408   # edgedl.MAX_CHANNELS (the Stream's and Preprocess's limit); a test holds them equal
MAX_FRAMES = 4096    # window and hop, in frames after decimation
MAX_DECIMATE = 256   # edgedl.Preprocess
MAX_FS = 100000      # Hz
MAX_LABEL = 64       # characters: every event carries its gesture's name
Q15_MAX = 32767      # edgedl.Preprocess's highpass_q15 and envelope_q15
# edgedl.quantize shifts an int16 count left by `shift` in 32 bits: beyond 16 it
# wraps (and a gain that large would saturate every count anyway).
MAX_SHIFT = 16
FEATURE_BITS = 4     # edgedl.Preprocess's features mask: log MAV, log WL, ZC, SSC
RING_DIFF = 16       # ... and its modifier: the features of neighbour differences too


def frame_width(meta):
    """Values per preprocessed frame: channels, or signals x features, where the signals are
    the channels and, with ring differences, as many neighbour differences (a checked meta)."""
    mask = meta["preprocess"].get("features", 0)
    signals = meta["channels"]["count"] * (2 if mask & RING_DIFF else 1)
    return signals * max(1, sum((mask >> b) & 1 for b in range(FEATURE_BITS)))


class BundleError(ValueError):
    pass


def load_model(path, edgedl):
    """The .tflite at path as an edgedl.Model (the board's; the host never calls this). A model
    that does not fit says which buffer (the model file, or the parsed model, loader's work area, arena or I/O that
    edgedl names), how many bytes it needs and how many the heap has. OSError: no such file."""
    import gc

    gc.collect()  # one piece of heap for the file, as far as there is one
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        try:
            data = f.read()
        except MemoryError:
            raise MemoryError("the model file %s needs %d bytes, the heap has %d free" % (path, size, _heap_free()))
    try:
        return edgedl.Model(data), len(data)  # the weights are used in place: data stays on the heap
    except MemoryError as exc:
        data = None
        raise MemoryError("%s; the heap has %d bytes free beside the model file (%d bytes)" % (exc, _heap_free(), size))


def _heap_free():
    import gc

    gc.collect()
    return gc.mem_free()


def _show(value):
    """A short repr for a message: a hostile value may be huge."""
    if isinstance(value, (str, list)) and len(value) > 40:
        value = value[:40]
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value):
    # MicroPython's bool is no int subclass, CPython's is: refuse it on both.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    # value - value is 0 for a finite number, NaN for infinities and NaN.
    return (_is_int(value) or isinstance(value, float)) and value - value == 0


def _int(name, value, lo, hi):
    if not _is_int(value) or not lo <= value <= hi:
        raise BundleError("%s must be an integer %d..%d, got %s" % (name, lo, hi, _show(value)))
    return value


def _object(name, value):
    if not isinstance(value, dict):
        raise BundleError("%s must be a JSON object, got %s" % (name, _show(value)))
    return value


def _scale(name, value):
    if not _is_number(value) or not value > 0:
        raise BundleError("%s must be a number above 0, got %s" % (name, _show(value)))
    return value


def check(meta):
    """meta (the object in model.json) if the board can run it, else BundleError."""
    if not isinstance(meta, dict):
        raise BundleError("model.json must hold a JSON object, got %s" % _show(meta))
    if meta.get("schema") != SCHEMA or not _is_int(meta.get("version")) or meta["version"] != VERSION:
        raise BundleError("bundle schema %s version %s; this runtime reads %s version %d"
                          % (_show(meta.get("schema")), _show(meta.get("version")), SCHEMA, VERSION))
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels:
        raise BundleError("labels must be a non-empty list of gesture names, got %s" % _show(labels))
    for i, name in enumerate(labels):
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_LABEL:
            raise BundleError("labels[%d] must be a gesture name of 1..%d characters, got %s"
                              % (i, MAX_LABEL, _show(name)))
        if labels.index(name) != i:
            raise BundleError("labels[%d] %s is also labels[%d]: gesture names must differ"
                              % (i, _show(name), labels.index(name)))
    fs = meta.get("fs")
    if not _is_number(fs) or not 0 < fs <= MAX_FS:
        raise BundleError("fs must be the sampling rate in Hz, above 0 and at most %d, got %s" % (MAX_FS, _show(fs)))
    channels = _object("channels", meta.get("channels"))
    count = _int("channels.count", channels.get("count"), 1, MAX_CHANNELS)
    select = channels.get("select")
    if select is not None:
        if not isinstance(select, list) or len(select) != count:
            raise BundleError("channels.select must be null or a list of channels.count = %d channel numbers, got %s"
                              % (count, _show(select)))
        for c in select:
            _int("channels.select entry", c, 0, 65535)
        if len(set(select)) != count:
            raise BundleError("channels.select lists a channel twice")
    window = _int("window", meta.get("window"), 1, MAX_FRAMES)
    _int("hop", meta.get("hop"), 1, MAX_FRAMES)
    p = _object("preprocess", meta.get("preprocess"))
    _int("preprocess.highpass_q15", p.get("highpass_q15"), 0, Q15_MAX)
    _int("preprocess.envelope_q15", p.get("envelope_q15"), 0, Q15_MAX)
    rectify = p.get("rectify")
    if not (isinstance(rectify, bool) or (_is_int(rectify) and rectify in (0, 1))):
        raise BundleError("preprocess.rectify must be true, false, 1 or 0, got %s" % _show(rectify))
    _int("preprocess.decimate", p.get("decimate"), 1, MAX_DECIMATE)
    features = _int("preprocess.features", p.get("features", 0), 0, (1 << FEATURE_BITS) - 1 | RING_DIFF)
    if features == RING_DIFF:
        raise BundleError("preprocess.features: ring differences (16) need at least one feature (1..15)")
    _int("preprocess.threshold", p.get("threshold", 0), 0, 32767)
    if features and (rectify or p["envelope_q15"]):
        raise BundleError("preprocess.features are computed from the high-passed signal: rectify and envelope "
                          "must be off with them")
    for key in ("highpass_hz", "envelope_hz"):  # the host derives its windows from these
        if not _is_number(p.get(key)) or p[key] < 0:
            raise BundleError("preprocess.%s must be a number of Hz, 0 for off, got %s" % (key, _show(p.get(key))))
    for side in ("input", "output"):
        t = _object(side, meta.get(side))
        if t.get("dtype") != "int8":
            raise BundleError("%s.dtype must be \"int8\", got %s" % (side, _show(t.get("dtype"))))
        shape = t.get("shape")
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4 or not all(_is_int(n) and n > 0 for n in shape):
            raise BundleError("%s.shape must be a list of 1..4 sizes, got %s" % (side, _show(shape)))
        _scale(side + ".scale", t.get("scale"))
        _int(side + ".zero_point", t.get("zero_point"), -128, 127)
    q = _object("input.from_counts", meta["input"].get("from_counts"))
    _int("input.from_counts.mult", q.get("mult"), 0, 2 ** 31 - 1)
    _int("input.from_counts.shift", q.get("shift"), -31, MAX_SHIFT)
    if q.get("zero_point") != meta["input"]["zero_point"] or not _is_int(q.get("zero_point")):
        raise BundleError("input.from_counts.zero_point must be input.zero_point = %d, got %s"
                          % (meta["input"]["zero_point"], _show(q.get("zero_point"))))
    width = frame_width(meta)
    if meta["input"]["shape"][-2:] != [window, width]:
        raise BundleError("input.shape %s does not end in window %d x %d values (channels.count %d%s)"
                          % (_show(meta["input"]["shape"]), window, width, count,
                             " x features" if features else ""))
    if meta["output"]["shape"][-1] != len(labels):
        raise BundleError("output.shape %s gives %d classes, labels names %d gestures"
                          % (_show(meta["output"]["shape"]), meta["output"]["shape"][-1], len(labels)))
    if meta.get("velocity") is not None:
        _velocity(meta["velocity"], width, len(labels))
    if meta.get("grids") is not None:
        _grids(meta["grids"], count)
    if meta.get("drift") is not None:
        _drift(meta["drift"], width, len(labels), features)
    return meta


def _velocity(v, width, classes):
    """{"columns": n, "low": [per gesture], "high": [...]}: the window's level is the mean of
    its first n columns; velocity 0 at low, 1 at high."""
    _object("velocity", v)
    _int("velocity.columns", v.get("columns"), 1, width)
    for key in ("low", "high"):
        levels = v.get(key)
        if not isinstance(levels, list) or len(levels) != classes or not all(_is_number(x) for x in levels):
            raise BundleError("velocity.%s must be a list of %d numbers (one per gesture), got %s"
                              % (key, classes, _show(levels)))
    for i in range(classes):
        if not v["high"][i] > v["low"][i]:
            raise BundleError("velocity.high[%d] must be above velocity.low[%d]" % (i, i))


DRIFT_MAX_SHIFT = 16  # NE_DRIFT_MAX_SHIFT


def _drift(d, width, classes, features):
    """{"rate_shift": s, "class_means": [[width int16] per gesture]}: drift tracking (the
    host's neuroedge/drift.py), which follows shifts of feature values."""
    _object("drift", d)
    if not features:
        raise BundleError("drift tracking follows shifts of time-domain features: this bundle has none")
    _int("drift.rate_shift", d.get("rate_shift"), 0, DRIFT_MAX_SHIFT)
    means = d.get("class_means")
    if not isinstance(means, list) or len(means) != classes:
        raise BundleError("drift.class_means must be a list of %d rows (one per gesture), got %s"
                          % (classes, _show(means)))
    for i, row in enumerate(means):
        if not isinstance(row, list) or len(row) != width or not all(_is_int(v) and -32768 <= v <= 32767
                                                                     for v in row):
            raise BundleError("drift.class_means[%d] must be %d integers -32768..32767 (one per input column), "
                              "got %s" % (i, width, _show(row)))


def _grids(grids, channels):
    """[[rows, cols, first channel], ...]: electrode grids among the model's channels."""
    if not isinstance(grids, list) or len(grids) > 16:
        raise BundleError("grids must be a list of at most 16 [rows, cols, first channel], got %s" % _show(grids))
    for g in grids:
        if not isinstance(g, list) or len(g) != 3:
            raise BundleError("grids entries must be [rows, cols, first channel], got %s" % _show(g))
        rows, cols = _int("grid rows", g[0], 1, MAX_CHANNELS), _int("grid cols", g[1], 1, MAX_CHANNELS)
        first = _int("grid first channel", g[2], 0, MAX_CHANNELS)
        if first + rows * cols > channels:
            raise BundleError("grid %dx%d at channel %d does not fit in %d channels" % (rows, cols, first, channels))


def matches(meta, model):
    """A checked meta against its model: input_shape, input_dtype, input_quantization,
    output_shape, output_dtype and output_quantization as edgedl.Model has them."""
    for side in ("input", "output"):
        t = meta[side]
        shape = list(getattr(model, side + "_shape"))
        dtype = getattr(model, side + "_dtype")
        zero_point = getattr(model, side + "_quantization")[1]
        if dtype != "int8" or shape != t["shape"]:
            raise BundleError("model.tflite %s is %s %s, model.json says int8 %s"
                              % (side, dtype, _show(shape), _show(t["shape"])))
        if zero_point != t["zero_point"]:
            raise BundleError("model.tflite %s zero point is %d, model.json %s.zero_point says %d"
                              % (side, zero_point, side, t["zero_point"]))
    return meta

"""The `neuroedge` command: a thin layer over the library modules."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from . import native
from .emulator import DEFAULT_HEAP, LIVE_HEAP, Emulator, check_heap
from .errors import InputError, NeuroEdgeError
from .project import load_device_module


def parse_size(text: str) -> int:
    """'128k', '1M', '1G' or a byte count."""
    units = {"k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}
    try:
        if text[-1:].lower() in units:
            return int(text[:-1]) * units[text[-1].lower()]
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 131072, 128k, 1M)") from None


def parse_heap(text: str) -> int:
    """An --heap value: a size the emulator accepts."""
    heap = parse_size(text)
    try:
        check_heap(heap)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return heap


def parse_speed(text: str) -> float | None:
    """A multiple of real time, or 'max' (None: as fast as the reader takes it)."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not (math.isfinite(speed) and speed > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed: a multiple of real time > 0, or 'max'")
    return speed


def parse_electrode_fault(text: str) -> tuple[str, list[int]]:
    """KIND:CH[,CH...], e.g. flat:3 or noisy:10,11."""
    from .quattrocento_sim import ELECTRODE_FAULTS

    kind, _, channels = text.partition(":")
    try:
        numbers = [int(c) for c in channels.split(",")]
    except ValueError:
        numbers = []
    if kind not in ELECTRODE_FAULTS or not numbers or min(numbers) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KIND:CH[,CH...] with KIND one of "
                                         f"{', '.join(ELECTRODE_FAULTS)}, e.g. flat:3")
    return kind, numbers


def parse_port(text: str) -> int:
    """A TCP port; 0 lets the system pick a free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0..65535)")
    return port


def parse_folder(text: str) -> Path:
    """An output folder: missing (it is made) or a folder, not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: exists and is not a folder")
    return path


def cmd_build(args: argparse.Namespace) -> int:
    """`neuroedge build`: the .mpy for an architecture, or the Xtensa portability check."""
    if args.xtensa_check:
        print(native.check_xtensa(args.mpy_dir).report())
        return 0
    path = native.build(args.arch, args.mpy_dir, verbose=args.verbose)
    print(path)
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    """`neuroedge emulator`: code, a script or a REPL on the emulated board, or the virtual board on a pty."""
    if args.pty:
        from . import virtual_board

        return virtual_board.main(args.sandbox, args.heap, blank=not args.with_app, link=args.link, flash=args.flash)
    with Emulator(args.sandbox, heap=args.heap) as board:
        if args.code is None and args.run is None:
            return board.repl()
        result = board.run(args.code, timeout=None) if args.code is not None else board.run_file(args.run, timeout=None)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.returncode


def cmd_infer(args: argparse.Namespace) -> int:
    """`neuroedge infer`: a batch of inputs through edgedl (emulator or board) or tflite-micro."""
    from . import infer  # numpy (and tflite-micro for --reference) only here

    return infer.main(args.model, args.inputs, args.out, port=args.port, reference=args.reference, heap=args.heap)


def cmd_bench(args: argparse.Namespace) -> int:
    """`neuroedge bench engine|stream|mcu`."""
    from .bench import engine, mcu

    if args.what == "stream":
        return engine.bench_stream(args.json, args.model, args.recording)
    if args.what == "mcu":
        return mcu.main(args.json, args.model, args.recording, args.windows, args.core, args.kernels)
    return engine.main(args.models, args.json, args.new_ops)


def cmd_synth(args: argparse.Namespace) -> int:
    """`neuroedge synth`: synthetic labelled HD-EMG recordings."""
    from . import synth

    cfg = synth.SynthConfig(grids=args.grids, fs=args.fs, subjects=args.subjects, sessions=args.sessions,
                            repetitions=args.repetitions, hold_s=args.hold, seed=args.seed, efforts=args.efforts)
    for path in synth.write(cfg, args.out, args.format):
        print(path)
    return 0


def parse_subjects(text: str) -> tuple:
    """'1-5', '1,3' or '1-3,7'."""
    from .libemg_sets import subject_numbers

    try:
        return subject_numbers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_import(args: argparse.Namespace) -> int:
    """`neuroedge import`: a LibEMG dataset as recordings."""
    from . import libemg_sets

    for path, rec in libemg_sets.write(args.dataset, args.src, args.out, args.subjects):
        print(f"{path}  ({rec.extra['files']} files, {rec.samples} samples x {rec.channels} channels)")
    return 0


def parse_features(text: str) -> tuple:
    """'log_mav,log_wl', 'none' or 'auto' (None)."""
    from .preprocess import FEATURES

    if text == "auto":
        return None
    names = () if text == "none" else tuple(n.strip() for n in text.split(","))
    bad = [n for n in names if n not in FEATURES]
    if bad or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: features are distinct names from {', '.join(FEATURES)}, "
                                         "or 'none'")
    return names


def parse_efforts(text: str) -> tuple:
    """'20,50,80': percent of maximum contraction."""
    try:
        levels = tuple(float(v) for v in text.split(","))
    except ValueError:
        levels = ()
    if not levels or not all(0 < v <= 100 for v in levels):
        raise argparse.ArgumentTypeError(f"{text!r}: efforts are percentages 1..100, e.g. 20,50,80")
    return levels


def parse_channels(text: str) -> tuple:
    """'96:288' (a range) or '0,2,5' (a list)."""
    from .dataset import check_channels

    try:
        if ":" in text:
            start, stop = map(int, text.split(":"))
            channels = tuple(range(start, stop))
        else:
            channels = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a channel selection (e.g. 96:288 or 0,2,5)") from None
    try:
        check_channels(channels)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return channels


def cmd_train(args: argparse.Namespace) -> int:
    """`neuroedge train`: recordings -> a model bundle."""
    from . import dataset, recording, train
    from .preprocess import PreprocessConfig

    # Filters instead of features when asked for (--rectify / --envelope, or --features none).
    filters = args.rectify or args.envelope > 0 or args.features == ()
    pre = PreprocessConfig(highpass_hz=args.highpass, features=() if filters else args.features,
                           block_ms=args.block_ms, threshold=args.threshold, rectify=args.rectify,
                           envelope_hz=args.envelope, decimate=args.decimate)
    windows = dataset.WindowConfig(pre, args.window, args.hop, args.channels)
    cfg = train.TrainConfig(architecture=args.arch, epochs=args.epochs, seed=args.seed, split_by=args.split,
                            hold_out=tuple(args.hold_out.split(",")) if args.hold_out else None, windows=windows,
                            drift=args.drift, rotation=args.rotation)
    recordings = [recording.load(p) for p in expand(args.data)]
    train.train(recordings, args.out, cfg, force=args.force)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`neuroedge evaluate`: a bundle scored on recordings, int8 on edgedl."""
    from . import evaluate

    return evaluate.main_evaluate(args.bundle, expand(args.data), args.json)


def cmd_info(args: argparse.Namespace) -> int:
    """`neuroedge info`: what a bundle holds and costs."""
    from . import evaluate

    return evaluate.main_info(args.bundle)


def expand(paths: list[str]) -> list:
    """Recording files; a folder stands for the recordings in it."""
    from pathlib import Path

    from .recording import SUFFIXES, RecordingError

    out = []
    for p in map(Path, paths):
        found = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES) if p.is_dir() else [p]
        if not found:
            raise RecordingError(f"{p}: no recordings in this folder")
        out += found
    return out


def cmd_quattrocento_sim(args: argparse.Namespace) -> int:
    """`neuroedge quattrocento-sim`: the amplifier over TCP, serving a recording."""
    from . import quattrocento_sim

    return quattrocento_sim.main(args.recording, args.host, args.port, args.speed, args.idle_timeout)


REPLAY_SOURCES = ("quattrocento", "usb")


def cmd_replay(args: argparse.Namespace) -> int:
    """`neuroedge replay`: a labelled recording through the board's app, scored (source chosen by --via)."""
    from . import replay

    via = args.via or ("usb" if args.port else "quattrocento")
    if args.port and via != "usb":
        raise InputError(f"--via {via} feeds the emulator; the board at {args.port} is fed over its USB serial "
                         "(--via usb)")
    return replay.main(args.recording, args.model, args.speed, args.json, args.png, port=args.port,
                       emulator_usb=via == "usb" and not args.port)


def cmd_deploy(args: argparse.Namespace) -> int:
    """`neuroedge deploy`: a bundle, the app and edgedl.mpy onto a board, atomically."""
    from . import deploy

    return deploy.main(args.port, args.model, args.config)


def cmd_tune(args: argparse.Namespace) -> int:
    """`neuroedge tune show|set|save|watch` on a running board."""
    from . import tune

    return tune.main(args.port, args.action, args.settings, args.interval, args.count)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """`neuroedge calibrate`: a cued calibration session on the board (or --reset)."""
    from . import calibrate, recording

    if args.reset:
        about = calibrate.reset(args.port)
        print(f"the board at {args.port} runs its deployed model again ({about['kind']})")
        return 0
    rec = recording.load(args.from_recording) if args.from_recording else None
    result = calibrate.calibrate(args.port, seconds=args.seconds, gestures=args.gestures, force=args.force,
                                 from_recording=rec, speed=args.speed)
    print(json.dumps(result) if args.json else calibrate.describe(result))
    return 0 if result["applied"] else 1


def _live_source(args: argparse.Namespace):
    """The events of relay's or dashboard's source, and the bundle's facts for their display."""
    from . import bundle, live

    _, meta = bundle.load(args.model)
    settings = {"probabilities": True, "velocity": meta.get("velocity") is not None} if args.recording else {}
    if args.fault and not args.recording:
        raise InputError("--fault is for an emulated board (--recording): the simulator injects it")
    faults = None
    if args.fault:
        from .quattrocento_sim import Faults

        faults = Faults(**{kind: tuple(channels) for kind, channels in args.fault})
    return live.open_events(args.model, port=args.port, udp=args.udp, recording_path=args.recording,
                            speed=args.speed, faults=faults, heap=args.heap, **settings), meta


def cmd_relay(args: argparse.Namespace) -> int:
    """`neuroedge relay --lsl`: the board's events as Lab Streaming Layer streams."""
    import threading

    from .relay import LslRelay

    if not args.lsl:
        raise InputError("relay needs a destination: --lsl")
    source, meta = _live_source(args)
    stop = threading.Event()
    with source as (events, about):
        relay = LslRelay(meta["labels"])
        print(f"relaying {about} to LSL: streams 'NeuroEdge gestures', 'NeuroEdge decisions', 'NeuroEdge counters' "
              "(Ctrl-C stops)", flush=True)
        timer = threading.Timer(args.seconds or 0, stop.set)
        timer.daemon = True
        if args.seconds:
            timer.start()
        try:
            pushed = relay.run(events, stop)
        finally:
            stop.set()
            timer.cancel()
    print(f"pushed {pushed['markers']} gesture markers, {pushed['decisions']} decisions, {pushed['counters']} "
          "counter samples")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """`neuroedge dashboard`: a local web page showing the board live."""
    import threading
    import time

    from .dashboard import Dashboard
    from .live import LiveState

    source, meta = _live_source(args)
    stop = threading.Event()
    with source as (events, about):
        state = LiveState(meta["labels"], meta.get("grids"), meta["channels"]["count"])
        dash = Dashboard(state, about, port=args.http)
        dash.serve()
        dash.feed(events, stop)
        print(f"dashboard of {about} on {dash.url} (Ctrl-C stops)", flush=True)
        try:
            end = time.monotonic() + args.seconds if args.seconds else None
            while not stop.wait(0.2) and (end is None or time.monotonic() < end):
                pass
        finally:
            stop.set()
            dash.close()
    if dash.error is not None:
        raise dash.error
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`neuroedge demo`: what `make demo` runs."""
    from . import demo  # numpy is only needed here

    return demo.main()


def make_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from .dataset import WindowConfig  # light modules: numpy only
    from .preprocess import FEATURES, PreprocessConfig

    parser = argparse.ArgumentParser(prog="neuroedge", description="HD-EMG gesture recognition on MicroPython boards.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build the edgedl native module (.mpy) and print its path")
    p.add_argument("--arch", default="x64", choices=sorted(native.NATMOD_ARCHS),
                   help="target: x64 (emulator), xtensawin (ESP32/ESP32-S3), armv7emsp, ... (default x64)")
    p.add_argument("--mpy-dir", help="MicroPython source tree (default: $MPY_DIR, else the pinned 1.23 sources)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the compiler's output")
    p.add_argument("--xtensa-check", action="store_true",
                   help="compile every C file for Xtensa (lx106) with -Werror and list the libgcc helpers "
                        "it calls; fails on any an ESP32 build could not link")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("emulator", help="run MicroPython's unix port as a board, with edgedl and device/app")
    what = p.add_mutually_exclusive_group()
    what.add_argument("-c", dest="code", metavar="CODE", help="run CODE on the board")
    what.add_argument("--run", metavar="FILE", help="run FILE (a board path or a host file) on the board")
    what.add_argument("--pty", action="store_true",
                      help="serve a virtual board on a pseudo-terminal (REPL, raw REPL, soft reset) for mpremote, "
                           "deploy and tune; starts with an empty flash like a fresh board")
    p.add_argument("--link", metavar="PATH", help="with --pty: also make PATH a symlink to the pty")
    p.add_argument("--with-app", action="store_true", help="with --pty: put device/app and edgedl.mpy on the flash")
    p.add_argument("--flash", type=parse_size, default=2 * 1024 * 1024,
                   help="with --pty: the flash size the board reports (default 2M, an ESP32 module's filesystem)")
    p.add_argument("--heap", type=parse_heap, default=DEFAULT_HEAP,
                   help=f"MicroPython heap, like an ESP32 without PSRAM (default {DEFAULT_HEAP // 1024}k)")
    p.add_argument("--sandbox", help="folder to use as the board's filesystem (default: a temporary one)")
    p.set_defaults(func=cmd_emulator)

    p = sub.add_parser("infer", help="run a batch of inputs (.npy) through edgedl, or tflite-micro with --reference")
    p.add_argument("model", metavar="MODEL.tflite")
    p.add_argument("inputs", metavar="INPUTS.npy", help="(batch, *input_shape) int8 (or float32) records")
    p.add_argument("--out", required=True, metavar="OUTPUTS.npy")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--emulator", action="store_true", help="run edgedl in the emulator (default)")
    where.add_argument("--port", help="run edgedl on the board at this serial port (app and module deployed)")
    where.add_argument("--reference", action="store_true", help="run tflite-micro's reference kernels instead")
    p.add_argument("--heap", type=parse_heap, default=DEFAULT_HEAP, help="emulator heap (default %(default)s bytes)")
    p.set_defaults(func=cmd_infer)

    p = sub.add_parser("bench", help="benchmarks that print ratios against a peer measured in the same run")
    p.add_argument("what", choices=["engine", "stream", "mcu"],
                   help="engine: edgedl (emulator) vs tflite-micro reference kernels; "
                        "stream: the whole board loop vs real time; "
                        "mcu: the C core's executed instructions on emulated Cortex-M4F and Xtensa lx106 cores, per stage")
    p.add_argument("models", nargs="*", metavar="MODEL.tflite",
                   help="models to time (default: the zoo's conv-heavy models and the 192-channel reference CNN)")
    p.add_argument("--model", type=Path, help="stream, mcu: bundle folder (default: the demo's model)")
    p.add_argument("--recording", type=Path, help="stream, mcu: recording to serve (default: the demo's first)")
    p.add_argument("--windows", type=int, default=2, help="mcu: windows of input to run (default 2)")
    p.add_argument("--core", action="append", help="mcu: cortex-m4f or lx106 (repeatable; default: both)")
    p.add_argument("--kernels", action="store_true",
                   help="mcu: instructions per MAC of conv, 2-D conv and dense layers of EMG-CNN sizes, by kernel build")
    p.add_argument("--new-ops", action="store_true",
                   help="engine: the zoo's EMG-sized models of the ops beyond the project's CNNs (gated causal TCN, "
                        "attention) instead of the default models")
    p.add_argument("--json", action="store_true", help="machine-readable results")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("synth", help="generate synthetic HD-EMG recordings (7 gestures, 8x8 grids)")
    p.add_argument("--out", required=True, type=parse_folder, help="output folder")
    p.add_argument("--grids", type=int, default=3, help="8x8 electrode grids (default 3 = 192 channels)")
    p.add_argument("--fs", type=float, default=2048.0, help="sampling rate in Hz (default 2048)")
    p.add_argument("--subjects", type=int, default=2)
    p.add_argument("--sessions", type=int, default=2)
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--hold", type=float, default=1.5, help="seconds each gesture is held (default 1.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--efforts", type=parse_efforts, default=(),
                   help="contraction levels in percent of maximum, one per repetition in turn, e.g. 20,50,80 "
                        "(default: a random level per repetition, 10-100)")
    p.add_argument("--format", choices=["npz", "csv"], default="npz")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("import", help="convert a public LibEMG dataset's text files (3DC, MyoDisCo) to .npz "
                                      "recordings, one per subject and session")
    p.add_argument("dataset", choices=["3dc", "myodisco"])
    p.add_argument("src", type=Path, metavar="SRC",
                   help="the dataset folder: Participant<N>/{train,test}/EMG (3dc) or S<n>/{day1,day2} (myodisco)")
    p.add_argument("--out", required=True, type=parse_folder, help="output folder")
    p.add_argument("--subjects", type=parse_subjects, help="e.g. 1-5 or 1,3 (default: all found)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("train", help="train a 1-D CNN on recordings and write an int8 model bundle")
    p.add_argument("data", nargs="+", help="recording files or folders (.npz, .csv, .mat, .otb+, WFDB .hea)")
    p.add_argument("--out", required=True, help="bundle folder, e.g. models/NAME")
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it holds more than a model bundle (its contents are deleted)")
    p.add_argument("--arch", choices=["auto", "lda", "compact", "larger"], default="auto",
                   help="lda (time-domain features + shrinkage LDA), compact (a ~5-11 k parameter 1-D CNN), "
                        "larger; auto (default): lda up to 32 channels, compact on electrode grids")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", choices=["repetition", "session", "subject"], default="repetition",
                   help="hold out the last repetition / session / subject (default repetition)")
    p.add_argument("--hold-out", metavar="VALUES",
                   help="which repetitions / sessions / subjects to test on, e.g. 5 or day2 (default: the last)")
    w, pre = WindowConfig(), PreprocessConfig()
    p.add_argument("--window", type=int, default=w.window, help="frames per window after decimation (default %(default)s)")
    p.add_argument("--hop", type=int, default=w.hop, help="frames between windows after decimation (default %(default)s)")
    p.add_argument("--highpass", type=float, default=pre.highpass_hz, help="high-pass corner in Hz, 0 = off (default %(default)s)")
    p.add_argument("--features", type=parse_features, default=None,
                   help=f"time-domain features per block, from {','.join(FEATURES)}, or 'none' for the filters "
                        "(default: log_mav,log_wl up to 32 channels, log_mav on electrode grids)")
    p.add_argument("--block-ms", type=float, default=pre.block_ms, help="feature block in ms (default %(default)s)")
    p.add_argument("--threshold", type=int, default=pre.threshold,
                   help="counts a step must reach for zc/ssc (default %(default)s)")
    p.add_argument("--rectify", action="store_true", help="filters: rectify the high-passed signal")
    p.add_argument("--envelope", type=float, default=pre.envelope_hz, help="filters: envelope low-pass in Hz, 0 = off")
    p.add_argument("--decimate", type=int, default=pre.decimate,
                   help="raw frames per output frame (default: the feature block at the recording's rate, or 1)")
    p.add_argument("--channels", type=parse_channels, default=None,
                   help="channels to keep, e.g. 96:288 (the grids of a 312-channel Quattrocento recording)")
    p.add_argument("--drift", action=argparse.BooleanOptionalAction, default=None,
                   help="the board follows a session's drift of the features from its own decisions "
                        "(default: on for lda, off for the CNNs)")
    p.add_argument("--rotation", type=float, default=0.0,
                   help="lda on armbands: also train on the band turned by +-this fraction of an electrode "
                        "(e.g. 0.35; see the README for what it did on real recordings; default 0, off)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="re-evaluate a bundle on other recordings (int8, by edgedl)")
    p.add_argument("bundle", help="models/NAME")
    p.add_argument("data", nargs="+", help="recording files or folders")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("info", help="what a bundle holds: gestures, input, MACs, parameters, arena")
    p.add_argument("bundle", help="models/NAME")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("quattrocento-sim", help="a TCP server that streams a recording like an OT Quattrocento")
    p.add_argument("recording", help="recording file (.npz, .csv, .mat, .otb+, .otb4, WFDB .hea)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=parse_port, default=load_device_module("protocol").AMPLIFIER_PORT,
                   help="TCP port (default: the amplifier's, %(default)s)")
    p.add_argument("--speed", type=parse_speed, default=1.0, help="multiple of real time, or 'max' (default 1.0)")
    p.add_argument("--idle-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="drop a client that sends no valid command for this long (default %(default)s)")
    p.set_defaults(func=cmd_quattrocento_sim)

    p = sub.add_parser("replay", help="stream a labelled recording through the device runtime and score it")
    p.add_argument("recording")
    p.add_argument("--model", required=True, help="bundle folder, e.g. models/NAME")
    p.add_argument("--via", choices=REPLAY_SOURCES,
                   help="how frames reach the board: quattrocento, the amplifier simulator over loopback TCP into "
                        "the emulator's StreamBridge (the default without --port); usb, the framed link over the "
                        "board's USB serial, flow-controlled (a fresh virtual board the model is deployed to, "
                        "without --port)")
    p.add_argument("--port", help="the board at this serial port (app deployed), fed over its USB serial")
    p.add_argument("--speed", type=parse_speed, default=1.0, help="multiple of real time, or 'max' (default 1.0)")
    p.add_argument("--png", type=Path, help="timeline plot path (default: next to the bundle)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("deploy", help="put the app, edgedl.mpy, a model bundle and its config on a board")
    p.add_argument("--port", required=True, help="serial port of the board (or of `neuroedge emulator --pty`)")
    p.add_argument("--model", required=True, type=Path, help="bundle folder, e.g. models/NAME")
    p.add_argument("--config", type=Path, help="config.json for the app (default: USB replay source, "
                                               "events on the console)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("tune", help="show, change, watch or save a running app's settings over the REPL")
    p.add_argument("--port", required=True, help="serial port of the board")
    p.add_argument("action", choices=["show", "set", "watch", "save"])
    p.add_argument("settings", nargs="*", metavar="KEY=VALUE",
                   help="for set: vote=3 threshold=0.6 hop=8 channel_mask=[5,17] output=udp "
                        "destination='[\"10.0.0.2\", 5005]'")
    p.add_argument("--interval", type=float, default=1.0, help="watch: seconds between refreshes")
    p.add_argument("--count", type=int, help="watch: stop after this many refreshes")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("calibrate", help="a cued session on the board re-fits its classifier to today's electrodes")
    p.add_argument("--port", required=True, help="serial port of the board (or of `neuroedge emulator --pty`)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per gesture (the first is not used)")
    p.add_argument("--gestures", type=lambda t: [g.strip() for g in t.split(",") if g.strip()],
                   help="comma-separated gestures to cue (default: all the model knows)")
    p.add_argument("--from-recording", type=Path, help="a labelled recording plays the person: each cued "
                                                        "gesture's first seconds go to the board")
    p.add_argument("--speed", type=parse_speed, default=1.0, help="--from-recording: multiple of real time, or 'max'")
    p.add_argument("--force", action="store_true", help="apply the new classifier despite the problems found")
    p.add_argument("--reset", action="store_true", help="back to the deployed model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    for name, help_text in (("relay", "forward a board's events to Lab Streaming Layer (--lsl)"),
                            ("dashboard", "a local web page showing a board live: gesture, scores, counters, "
                                          "electrode heatmaps")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--model", required=True, type=Path, help="the bundle the board runs (gestures, grids)")
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--port", help="serial port of a board whose app prints its events (output console)")
        src.add_argument("--udp", type=parse_port, help="UDP port the board sends its JSON events to")
        src.add_argument("--recording", type=Path, help="an emulated board replays this recording (looping)")
        p.add_argument("--speed", type=parse_speed, default=1.0, help="--recording: multiple of real time, or 'max'")
        p.add_argument("--heap", type=parse_heap, default=LIVE_HEAP,
                       help="--recording: the emulated board's heap (default %(default)s bytes, an ESP32 with PSRAM)")
        p.add_argument("--seconds", type=float, help="stop after this many seconds (default: Ctrl-C)")
        p.add_argument("--fault", type=parse_electrode_fault, action="append", metavar="KIND:CH[,CH...]",
                       help="--recording: the simulator gives these recording channels an electrode fault "
                            "(flat, saturated, hum or noisy), e.g. flat:3 (repeatable)")
        if name == "relay":
            p.add_argument("--lsl", action="store_true", help="publish the events as LSL streams")
            p.set_defaults(func=cmd_relay)
        else:
            p.add_argument("--http", type=parse_port, default=8000, help="port of the web page (default 8000)")
            p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("demo", help="the main job on the emulator")
    p.set_defaults(func=cmd_demo)
    return parser




def main(argv: list[str] | None = None) -> int:
    """Runs a subcommand; a NeuroEdgeError or OSError is printed as one line with exit 2, Ctrl-C exits 130."""
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"neuroedge {args.command}: interrupted", file=sys.stderr)
        return 130
    except NeuroEdgeError as exc:  # the user's to fix: one line, exit 2 (anything else is a bug: traceback)
        problem = str(exc)
    except OSError as exc:  # a file or port the user named
        problem = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
    print(f"neuroedge {args.command}: {problem}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

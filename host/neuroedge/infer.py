"""Run batches of inputs through edgedl (emulator or board) or through TFLite Micro.

The device side is device/app/infer_batch.py: the host writes the model and the
inputs as files on the board, runs it, and reads the outputs file back. The
same path serves the emulator (files in its sandbox) and a real board over
mpremote (files copied to its flash).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .emulator import Emulator

WORK_DIR = "infer"  # on the board


@dataclass
class ModelReport:
    """What the device said about a model it ran (edgedl.Model attributes)."""

    input_shape: tuple
    input_dtype: str
    output_shape: tuple
    output_dtype: str
    arena_bytes: int
    meta_bytes: int
    ops: int
    macs: int
    extra: dict

    @classmethod
    def from_json(cls, line: str) -> "ModelReport":
        d = json.loads(line)
        fields = {k: d.pop(k) for k in ("input_shape", "input_dtype", "output_shape", "output_dtype",
                                        "arena_bytes", "meta_bytes", "ops", "macs")}
        fields["input_shape"] = tuple(fields["input_shape"])
        fields["output_shape"] = tuple(fields["output_shape"])
        return cls(**fields, extra=d)


class InferError(InputError):
    """Inputs that do not fit the model, or a model the device refused."""


def _last_json_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise InferError(f"the board printed no report:\n{text.strip()}")
    return lines[-1]


def _records(inputs: np.ndarray) -> bytes:
    if inputs.dtype not in (np.int8, np.float32):
        raise InferError(f"inputs have dtype {inputs.dtype}; edgedl models take int8 (or float32) inputs")
    return np.ascontiguousarray(inputs).astype(inputs.dtype.newbyteorder("<")).tobytes()


def _outputs(raw: bytes, report: ModelReport, batch: int) -> np.ndarray:
    dtype = np.int8 if report.output_dtype == "int8" else np.dtype("<f4")
    return np.frombuffer(raw, dtype=dtype).reshape((batch,) + report.output_shape)


def check_inputs(inputs: np.ndarray, shape: tuple, dtype: str) -> None:
    """inputs must be (batch, *shape) or (batch, *shape without its leading batch dim of 1)."""
    expected = np.dtype(np.int8 if dtype == "int8" else np.float32)
    if inputs.dtype != expected:
        raise InferError(f"inputs have dtype {inputs.dtype}, the model's input is {dtype}")
    per_record = int(np.prod(shape))
    if inputs.ndim < 1 or int(np.prod(inputs.shape[1:])) != per_record:
        raise InferError(f"inputs have shape {inputs.shape}; expected (batch, {', '.join(map(str, shape))}) "
                         f"records of {per_record} values")


def _board_run(board: Emulator, call: str) -> str:
    result = board.run(f"import infer_batch; {call}", timeout=600)
    if result.returncode != 0:
        lines = result.output.strip().splitlines()
        raise InferError((lines[-1] if lines else f"the board exited with status {result.returncode}")
                         + result.heap_hint())
    return result.stdout


def describe_on_emulator(model: bytes, board: Emulator) -> ModelReport:
    """What edgedl makes of a model (InferError if it refuses it); leaves it on the board."""
    work = board.board_path(WORK_DIR)
    work.mkdir(exist_ok=True)
    (work / "model.tflite").write_bytes(model)
    return ModelReport.from_json(_last_json_line(
        _board_run(board, f"infer_batch.describe('{WORK_DIR}/model.tflite')")))


def check_readable(model: bytes, name: str) -> None:
    """Refuses a file that edgedl's bounds-checked reader finds malformed, before tflite-micro,
    which trusts the flatbuffer, fails on it cryptically or crashes. A model edgedl reads but
    does not run (an op it lacks) passes: tflite-micro may run it."""
    with Emulator() as board:
        try:
            describe_on_emulator(model, board)
        except InferError as exc:
            _, malformed, problem = str(exc).partition("malformed model: ")
            if malformed:
                raise InferError(f"{name}: not a readable .tflite model ({problem})") from None


def run_on_emulator(model: bytes, inputs: np.ndarray, *, board: Emulator | None = None,
                    heap: int | None = None) -> tuple[np.ndarray, ModelReport]:
    """Outputs of edgedl for every input record, from the emulator."""
    own = board is None  # heap applies only to a board made here
    if own:
        board = Emulator(**({} if heap is None else {"heap": heap}))
    try:
        work = board.board_path(WORK_DIR)
        # The board reads the model first: a refused model or mismatched inputs stop here.
        report = describe_on_emulator(model, board)
        check_inputs(inputs, report.input_shape, report.input_dtype)
        (work / "inputs.bin").write_bytes(_records(inputs))
        report = ModelReport.from_json(_last_json_line(_board_run(
            board, f"infer_batch.run('{WORK_DIR}/model.tflite', '{WORK_DIR}/inputs.bin', '{WORK_DIR}/outputs.bin')")))
        return _outputs((work / "outputs.bin").read_bytes(), report, len(inputs)), report
    finally:
        if own:
            board.close()


def run_tracked_on_emulator(model: bytes, windows: np.ndarray, from_counts: dict, drift: dict, starts=(0,), *,
                            board: Emulator | None = None, heap: int | None = None) -> np.ndarray:
    """Class indices edgedl gives int16 windows (n, frames, width), streams in order beginning
    at `starts`, with drift tracking as the runtime does it (infer_batch.run_tracked, the
    board's own loop)."""
    own = board is None
    if own:
        board = Emulator(**({} if heap is None else {"heap": heap}))
    try:
        work = board.board_path(WORK_DIR)
        report = describe_on_emulator(model, board)
        if tuple(report.input_shape) != (1,) + windows.shape[1:] or report.input_dtype != "int8":
            raise InputError(f"windows of shape {windows.shape[1:]} do not fit the model's int8 input "
                             f"{report.input_shape}")
        (work / "windows.bin").write_bytes(np.ascontiguousarray(windows, dtype="<i2").tobytes())
        (work / "settings.json").write_text(json.dumps({"from_counts": from_counts, "width": windows.shape[2],
                                                        "drift": drift, "starts": [int(i) for i in starts]}))
        report = ModelReport.from_json(_last_json_line(_board_run(
            board, f"infer_batch.run_tracked('{WORK_DIR}/model.tflite', '{WORK_DIR}/windows.bin', "
                   f"'{WORK_DIR}/outputs.bin', '{WORK_DIR}/settings.json')")))
        return _outputs((work / "outputs.bin").read_bytes(), report, len(windows)).reshape(len(windows), -1).argmax(1)
    finally:
        if own:
            board.close()


def bench_on_emulator(model: bytes, sample: np.ndarray, rounds: int, board: Emulator) -> tuple[float, np.ndarray,
                                                                                                  ModelReport]:
    """Median microseconds per invoke in the emulator, and the output for `sample`."""
    work = board.board_path(WORK_DIR)
    work.mkdir(exist_ok=True)
    (work / "model.tflite").write_bytes(model)
    (work / "inputs.bin").write_bytes(_records(sample[None]))
    report = ModelReport.from_json(_last_json_line(_board_run(
        board, f"infer_batch.bench('{WORK_DIR}/model.tflite', '{WORK_DIR}/inputs.bin', {rounds})")))
    output = _outputs(bytes.fromhex(report.extra["output"]), report, 1)[0]
    return float(np.median(report.extra["us"])), output, report


def run_on_board(port: str, model: bytes, inputs: np.ndarray) -> tuple[np.ndarray, ModelReport]:
    """The same batch run on a real board over mpremote (app and edgedl.mpy already deployed)."""
    mpremote = [sys.executable, "-m", "mpremote", "connect", port]
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "model.tflite").write_bytes(model)
        (tmpdir / "inputs.bin").write_bytes(_records(inputs))
        steps = [
            ["fs", "mkdir", f":{WORK_DIR}"],
            ["fs", "cp", str(tmpdir / "model.tflite"), f":{WORK_DIR}/model.tflite"],
            ["fs", "cp", str(tmpdir / "inputs.bin"), f":{WORK_DIR}/inputs.bin"],
        ]
        for i, step in enumerate(steps):
            proc = subprocess.run(mpremote + step, capture_output=True, text=True)
            if proc.returncode != 0 and i > 0:  # the folder may exist already
                raise InferError(f"mpremote {' '.join(step)} failed: {proc.stderr.strip()}")
        proc = subprocess.run(mpremote + ["exec", f"import infer_batch; infer_batch.run('{WORK_DIR}/model.tflite', "
                                                  f"'{WORK_DIR}/inputs.bin', '{WORK_DIR}/outputs.bin')"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise InferError(f"the board failed: {(proc.stdout + proc.stderr).strip()}")
        report = ModelReport.from_json(_last_json_line(proc.stdout))
        proc = subprocess.run(mpremote + ["fs", "cp", f":{WORK_DIR}/outputs.bin", str(tmpdir / "outputs.bin")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise InferError(f"could not read the outputs back: {proc.stderr.strip()}")
        return _outputs((tmpdir / "outputs.bin").read_bytes(), report, len(inputs)), report


def run_reference(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """The same batch through tflite-micro's interpreter (reference kernels)."""
    from .bench import tflm

    return tflm.run_reference(model, inputs)


def main(model_path: Path, inputs_path: Path, out_path: Path, *, port: str | None, reference: bool,
         heap: int | None) -> int:
    """`neuroedge infer`: the batch through edgedl (emulator or board) or tflite-micro, saved as .npy."""
    if Path(out_path).is_dir():
        raise InferError(f"{out_path}: is a folder; --out names the .npy file to write")
    model = Path(model_path).read_bytes()
    try:
        inputs = np.load(inputs_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InferError(f"{inputs_path}: not a readable .npy file ({exc})") from None
    if reference:
        check_readable(model, model_path)
        outputs = run_reference(model, inputs)
        where = "tflite-micro (reference kernels)"
    elif port:
        outputs, report = run_on_board(port, model, inputs)
        where = f"edgedl on the board at {port}"
    else:
        outputs, report = run_on_emulator(model, inputs, heap=heap)
        where = f"edgedl in the emulator (arena {report.arena_bytes} B, {report.macs} MACs per invoke)"
    tmp = Path(str(out_path) + ".tmp.npy")
    np.save(tmp, outputs)
    shutil.move(tmp, out_path)
    print(f"{len(outputs)} outputs of shape {outputs.shape[1:]} from {where} -> {out_path}")
    return 0

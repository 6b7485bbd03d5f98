"""Synthetic HD-EMG that exercises the whole system without a lab.

A physiologically shaped generator, seeded and deterministic:

- electrodes: ``grids`` 8x8 grids (10 mm pitch) side by side around the forearm,
  channel = grid * 64 + row * 8 + col, as three Quattrocento MULTIPLE IN grids;
- each subject has a population of motor units (MUs) under the skin: position,
  depth, recruitment threshold, and a size that grows with the threshold (size
  principle); each gesture drives the MUs near its own muscle centres on the
  forearm sheet (subject-specific perturbations of a shared layout);
- effort follows a trapezoid per repetition with a plateau drawn at random (down
  to 10 % of maximum) or from named levels (``efforts=(20, 50, 80)``: repetition r
  is held at efforts[(r - 1) % len(efforts)] percent), and each repetition drives the
  units a little differently; an MU fires once its drive passes its threshold, at
  8-35 Hz rising with the excess drive, with physiological inter-spike jitter;
- each firing adds a motor-unit action potential (Hermite-Rodriguez waveform,
  wider for deeper MUs) whose amplitude falls off with the distance from the MU
  to each electrode, plus a propagation term that reverses sign along the fibre;
- amplitudes as real surface EMG has them (reference/real-emg.md): a noise floor of
  about 2 uV RMS in the EMG band, rest at 2-4 uV on the median channel, moderate
  contractions at 20-60 uV median and up to a few hundred uV on the strongest
  channel, so that rest is about 10x weaker than a gesture;
- between sessions: the electrodes shift relative to the muscles (the grid is
  re-applied), and the skin's coupling changes the amplitude, for the whole grid
  and per electrode (impedance, sweat);
- on top: white noise, powerline interference (50 Hz and 150 Hz), baseline drift
  and occasional contact artifacts (motion transients, a channel losing contact);
- the result is int16 at the Quattrocento's 0.50863 uV per count.

Labels follow the cue: per repetition a rest hold, then every gesture (in a
shuffled order) held for ``hold_s`` with ``gap_s`` of rest after it, all tagged
with the repetition number so that splits by repetition are clean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .recording import QUATTROCENTO_UV_PER_COUNT, Grid, Recording

GESTURES = ("rest", "supination", "pronation", "hand close", "hand open", "wrist flexion", "wrist extension")
PITCH_MM = 10.0


@dataclass(frozen=True)
class SynthConfig:
    grids: int = 3
    fs: float = 2048.0
    subjects: int = 2
    sessions: int = 2
    repetitions: int = 5
    hold_s: float = 1.5
    gap_s: float = 0.5
    motor_units: int = 90
    mu_size_uv: float = 1.0        # scale of every MUAP: 1 gives real surface-EMG amplitudes
    noise_uv: float = 3.0          # white noise (about 2 uV RMS in the 20-450 Hz band)
    powerline_hz: float = 50.0
    powerline_uv: float = 2.0
    drift_uv: float = 25.0
    session_shift_mm: float = 4.0
    session_gain_sd: float = 0.25  # lognormal spread of the whole grid's gain per session
    electrode_gain_sd: float = 0.15  # ... and of each electrode's
    artifacts_per_minute: float = 3.0
    # Weak contractions and repetitions performed differently make the task hard
    # enough that the model matters (see the README: the baseline vs the CNN).
    effort_min: float = 0.1        # plateau effort is drawn from [effort_min, 1] ...
    efforts: tuple = ()            # ... unless named here, in percent, one per repetition in turn
    style_jitter: float = 0.5      # per-repetition lognormal spread of each unit's drive
    seed: int = 0


def electrode_positions(grids: int) -> np.ndarray:
    """(channels, 2) positions in mm: x around the forearm, y along it."""
    pos = []
    for g in range(grids):
        for row in range(8):
            for col in range(8):
                pos.append(((g * 8 + col) * PITCH_MM, row * PITCH_MM))
    return np.array(pos)


@dataclass
class _Subject:
    mu_xy: np.ndarray        # (M, 2) mm
    depth: np.ndarray        # (M,) mm
    threshold: np.ndarray    # (M,) of full drive
    size: np.ndarray         # (M,) uV at the skin right above
    gesture_weight: np.ndarray  # (gestures, M) drive per unit effort (row 0: rest)
    width_ms: np.ndarray     # (M,) MUAP width


def _subject(cfg: SynthConfig, subject: int) -> _Subject:
    shared = np.random.default_rng([cfg.seed, 7919])           # the anatomy all subjects share
    rng = np.random.default_rng([cfg.seed, subject, 1])
    width_mm, length_mm = cfg.grids * 8 * PITCH_MM, 8 * PITCH_MM
    m = cfg.motor_units
    mu_xy = np.column_stack([rng.uniform(-10, width_mm + 10, m), rng.uniform(-10, length_mm + 10, m)])
    depth = rng.uniform(4, 16, m)
    threshold = np.sort(rng.exponential(0.22, m).clip(0.02, 0.85))
    size = cfg.mu_size_uv * (90 + 320 * threshold) * rng.lognormal(0, 0.25, m)
    # Two muscle centres per gesture on the sheet; subjects move them a little.
    centres = shared.uniform([0, 0], [width_mm, length_mm], size=(len(GESTURES), 2, 2))
    centres = centres + rng.normal(0, 6, centres.shape)
    d2 = ((mu_xy[None, None, :, :] - centres[:, :, None, :]) ** 2).sum(-1)   # (G, 2, M)
    weight = 1.6 * (np.exp(-d2[:, 0] / (2 * 22.0 ** 2)) + 0.6 * np.exp(-d2[:, 1] / (2 * 18.0 ** 2)))
    weight[0] = 0.04  # rest: a trickle of tone
    return _Subject(mu_xy, depth, threshold, size, weight, 0.9 + depth / 9.0)


def _timeline(cfg: SynthConfig, rng: np.random.Generator):
    """Per-sample label, repetition, and per-gesture effort (G, samples)."""
    hold, gap = int(cfg.hold_s * cfg.fs), int(cfg.gap_s * cfg.fs)
    labels, reps, segments = [], [], []
    for rep in range(1, cfg.repetitions + 1):
        order = [0] + list(rng.permutation(np.arange(1, len(GESTURES))))
        for g in order:
            labels.append(np.full(hold, g))
            reps.append(np.full(hold, rep))
            if cfg.efforts:  # a named level, performed within +-10 % of it
                level = cfg.efforts[(rep - 1) % len(cfg.efforts)] / 100 * rng.uniform(0.9, 1.1)
            else:
                level = rng.uniform(cfg.effort_min, 1.0)
            segments.append((g, sum(len(x) for x in labels) - hold, hold, level))
            if g:
                labels.append(np.zeros(gap, int))
                reps.append(np.full(gap, rep))
    labels, reps = np.concatenate(labels), np.concatenate(reps)
    effort = np.zeros((len(GESTURES), len(labels)))
    ramp = int(0.25 * cfg.fs)
    for g, start, length, level in segments:
        if g == 0:
            continue
        shape = np.ones(length)
        shape[:ramp] = np.linspace(0, 1, ramp)
        shape[-ramp:] = np.linspace(1, 0, ramp)
        tremor = 1 + 0.08 * np.sin(2 * np.pi * rng.uniform(3, 7) * np.arange(length) / cfg.fs)
        effort[g, start:start + length] = level * shape * tremor
    return labels, reps, effort


def _spike_trains(cfg: SynthConfig, sub: _Subject, effort: np.ndarray, reps: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """(samples, M) 0/1 firings from each MU's drive."""
    weight = sub.gesture_weight.clip(0, None)
    drive = np.empty((effort.shape[1], weight.shape[1]))
    for rep in np.unique(reps):  # each repetition is performed a little differently
        style = rng.lognormal(0, cfg.style_jitter, weight.shape) if cfg.style_jitter else 1.0
        at = reps == rep
        drive[at] = effort[:, at].T @ (weight * style)
    excess = (drive - sub.threshold) / (1 - sub.threshold)
    rate = np.where(excess > 0, 8 + 27 * np.clip(excess, 0, 1), 0.0)
    jitter = 1 + 0.2 * rng.standard_normal(rate.shape)            # inter-spike variability
    phase = np.cumsum(rate * jitter.clip(0.3, None) / cfg.fs, axis=0)
    phase += rng.uniform(0, 1, phase.shape[1])
    return np.diff(np.floor(phase), axis=0, prepend=np.floor(phase[:1])) > 0


def _muap_kernels(width_ms: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Hermite-Rodriguez MUAP (first order) and its propagation (second order) term."""
    half = int(4 * width_ms * fs / 1000)
    t = np.arange(-half, half + 1) / fs * 1000 / width_ms
    first = t * np.exp(-t ** 2)
    second = (1 - 2 * t ** 2) * np.exp(-t ** 2)
    return first / np.abs(first).max(), second / np.abs(second).max()


def _noise(cfg: SynthConfig, n: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / cfg.fs
    out = rng.normal(0, cfg.noise_uv, (n, channels))
    amp = cfg.powerline_uv * rng.uniform(0.3, 1.0, channels)
    phase = rng.uniform(0, 2 * np.pi, channels)
    out += np.sin(2 * np.pi * cfg.powerline_hz * t[:, None] + phase) * amp
    out += np.sin(2 * np.pi * 3 * cfg.powerline_hz * t[:, None] + phase) * amp * 0.15
    for _ in range(3):  # slow baseline drift
        f = rng.uniform(0.05, 0.6)
        out += np.sin(2 * np.pi * f * t[:, None] + rng.uniform(0, 2 * np.pi, channels)) * \
            (cfg.drift_uv / np.sqrt(3) * rng.uniform(0.5, 1.5, channels))
    return out


def _artifacts(cfg: SynthConfig, emg: np.ndarray, rng: np.random.Generator) -> list[dict]:
    """Motion transients on a few neighbouring electrodes, or a channel losing contact."""
    n, channels = emg.shape
    events = []
    for _ in range(rng.poisson(cfg.artifacts_per_minute * n / cfg.fs / 60)):
        start = int(rng.integers(0, n))
        if rng.random() < 0.7:
            centre = int(rng.integers(0, channels))
            chans = [c for c in (centre - 9, centre - 8, centre - 1, centre, centre + 1, centre + 8, centre + 9)
                     if 0 <= c < channels]
            length = min(n - start, int(0.4 * cfg.fs))
            decay = np.exp(-np.arange(length) / (0.08 * cfg.fs))
            emg[start:start + length, chans] += rng.uniform(300, 1500) * rng.choice([-1, 1]) * decay[:, None]
            events.append({"kind": "motion", "sample": start, "channels": chans})
        else:
            chan = int(rng.integers(0, channels))
            length = min(n - start, int(rng.uniform(0.3, 1.0) * cfg.fs))
            emg[start:start + length, chan] = rng.normal(0, 200, length)
            events.append({"kind": "lost contact", "sample": start, "channels": [chan]})
    return events


def generate(cfg: SynthConfig, subject: int, session: int) -> Recording:
    """One recording (one subject, one session)."""
    sub = _subject(cfg, subject)
    rng = np.random.default_rng([cfg.seed, subject, session, 2])
    labels, reps, effort = _timeline(cfg, rng)
    spikes = _spike_trains(cfg, sub, effort, reps, rng)
    # Electrodes shift relative to the muscles between sessions (the grid is re-applied).
    shift = rng.normal(0, cfg.session_shift_mm, 2) if session else np.zeros(2)
    electrodes = electrode_positions(cfg.grids) + shift
    delta = electrodes[None, :, :] - sub.mu_xy[:, None, :]                   # (M, C, 2)
    r2 = (delta ** 2).sum(-1)
    falloff = sub.size[:, None] / (1 + r2 / sub.depth[:, None] ** 2) ** 1.5    # (M, C)
    along = delta[..., 1] / (sub.depth[:, None] + 5.0)                        # sign flips along the fibre
    n = len(labels)
    emg = np.zeros((n, electrodes.shape[0]))
    for i in range(cfg.motor_units):
        fired = spikes[:, i].astype(np.float64)
        if not fired.any():
            continue
        first, second = _muap_kernels(sub.width_ms[i], cfg.fs)
        s1 = np.convolve(fired, first, mode="same")
        s2 = np.convolve(fired, second, mode="same")
        emg += np.outer(s1, falloff[i]) + np.outer(s2, 0.6 * falloff[i] * np.tanh(along[i]))
    if session:  # the skin's coupling differs from one session to the next
        emg *= rng.lognormal(0, cfg.session_gain_sd) * rng.lognormal(0, cfg.electrode_gain_sd, emg.shape[1])
    emg += _noise(cfg, n, emg.shape[1], rng)
    events = _artifacts(cfg, emg, rng)
    counts = np.clip(np.round(emg / QUATTROCENTO_UV_PER_COUNT), -32768, 32767).astype(np.int16)
    return Recording(
        emg=counts, fs=cfg.fs, uv_per_count=QUATTROCENTO_UV_PER_COUNT, labels=labels.astype(np.int16),
        label_names=GESTURES, repetition=reps.astype(np.int16), session=str(session), subject=str(subject),
        grids=tuple(Grid(8, 8, 64 * g) for g in range(cfg.grids)),
        source=f"synth(subject={subject}, session={session}, seed={cfg.seed})",
        extra={"artifacts": events, "config": asdict(cfg)})


def write(cfg: SynthConfig, out_dir: Path, fmt: str = "npz") -> list[Path]:
    """Every subject x session as out_dir/subject<S>_session<K>.<fmt>."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for subject in range(cfg.subjects):
        for session in range(cfg.sessions):
            rec = generate(cfg, subject, session)
            paths.append(rec.save(out_dir / f"subject{subject}_session{session}.{fmt}"))
    return paths

"""The TOML evaluation configuration (``motionpredict evaluate CONFIG.toml``).

Example::

    [run]
    output = "runs/eth"          # run folder (relative to this file); default: next to it
    jobs = 2                     # local worker processes
    # address = "tcp://10.0.0.5:8786"   # an existing Dask scheduler
    # cache = "~/.cache/motionpredict"   # registration/PCA cache shared by runs (default RUN/cache)

    [[sequences]]
    path = "../shared/data/cine_mri/eth-1"   # a sequence folder/file, or a folder of sequences
    spacing_mm = [1.0, 1.0]                  # what the files do not say (never assumed)

    [[sequences]]
    phantom = "cine"             # or "markers": a synthetic sequence with known motion
    seed = 0
    n_frames = 40
    shape = [64, 64]
    frame_period_s = 0.25
    splits = { train = [1, 16], cv = [17, 28], test = [29, 40] }   # 1-based inclusive

    [evaluation]
    methods = ["no-prediction", "lms"]
    horizons_s = [0.25, 0.5]     # default: the sidecar's horizons
    modes = ["causal", "reference"]
    seeds = [0, 1, 2]
    n_components = [1, 2, 3]     # PCA sizes searched on cine (default: the sidecar's, else 3)
    grid = "default"             # grid preset: "default" (affordable) or "published"
    system_latency_ms = 120      # acquisition + reconstruction delay, for the latency plot
    device = "cpu"               # "cuda": RNN grids run batched on the GPU
    rnn_backend = "loop"         # "batched": grid points sharing (k, q) run as one batched job

    [evaluation.grids.lms]       # replaces the preset's entries of these hyper-parameters
    eta = [0.02, 0.05]

    [evaluation.grids.rls]
    grid = "published"           # this method's preset (here: its declared published grid)

    [registration]               # LK parameters (default: the sidecar's reference values)
    sigma_lk = 2.0
"""

from __future__ import annotations

import itertools
import math
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motionpredict.errors import ConfigurationError, InputFileError
from motionpredict.evaluation.grids import PRESETS, check_preset
from motionpredict.forecasters import MODES, get
from motionpredict.forecasters.base import GUARD_PARAMETERS

_RUN_KEYS = {"output", "jobs", "address", "name", "cache"}
_EVAL_KEYS = {"methods", "horizons_s", "horizons_steps", "modes", "seeds", "n_components",
              "grids", "round_horizons", "triplet_count", "system_latency_ms",
              "device", "rnn_backend", "grid"}
_SEQ_KEYS = {"path", "phantom", "name", "frame_period_s", "spacing_mm", "dataset", "splits",
             "horizons_s", "seed", "n_frames", "shape", "duration_s", "rate_hz", "roi",
             "reference_index"}
_REG_KEYS = {"backend"}


@dataclass
class EvalConfig:
    """A parsed evaluation configuration (paths resolved against the config file's folder)."""

    sequences: list[dict[str, Any]]
    methods: list[str]
    modes: list[str] = field(default_factory=lambda: ["causal"])
    seeds: list[int] = field(default_factory=lambda: [0])
    horizons_s: list[float] | None = None
    horizons_steps: list[int] | None = None
    n_components: list[int] | None = None
    grids: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid: str = "default"
    grid_presets: dict[str, str] = field(default_factory=dict)
    lk: dict[str, Any] = field(default_factory=dict)
    backend: str = "numpy"
    round_horizons: bool = False
    triplet_count: int = 3
    system_latency_ms: float | None = None
    device: str = "cpu"
    rnn_backend: str = "loop"
    output: Path | None = None
    jobs: int = 1
    address: str | None = None
    cache_dir: Path | None = None
    name: str = "evaluation"
    source: Path | None = None

    def preset(self, method: str) -> str:
        """Grid preset of ``method`` (its own ``grid`` key, else the run's ``grid``)."""
        return self.grid_presets.get(method, self.grid)

    def rnn_execution(self) -> dict[str, Any]:
        """How jobs run RNN grids (a JSON-able :class:`~motionpredict.evaluation.protocol.
        RNNExecution` record; every seed of the run shares one batched call)."""
        return {"device": self.device, "rnn_backend": self.rnn_backend,
                "seeds": [int(s) for s in self.seeds]}

    def as_dict(self) -> dict[str, Any]:
        """JSON-able record (stored in the run's metadata and shown in reports)."""
        out = dict(self.__dict__)
        for k in ("output", "source", "cache_dir"):
            out[k] = None if out[k] is None else str(out[k])
        return out


def strict_value(value: Any, typ: type, where: str) -> Any:
    """``value`` as ``typ`` (``int``, ``float``, ``str`` or ``bool``), refusing lossy conversions.

    An integer field takes an integer (or a float with an integral value, such as ``2.0``), never
    ``1.5``, ``"two"`` or ``true``; a float field takes a finite number, never a string.

    Raises
    ------
    ConfigurationError
        Naming ``where`` (file and key) and the value.
    """
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise ConfigurationError(f"{where}: expected a whole number, got {value!r}")
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigurationError(f"{where}: expected a finite number, got {value!r}")
            return float(value)
    elif typ is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - programming error
        raise TypeError(typ)
    raise ConfigurationError(f"{where}: expected a {typ.__name__} value, got {value!r}")


def _list(v: Any, typ: type, where: str) -> list[Any]:
    vals = v if isinstance(v, list) else [v]
    return [strict_value(x, typ, where) for x in vals]


def _method(name: str, where: str) -> Any:
    """The forecaster class ``name``; an unknown name is refused naming ``where``."""
    from motionpredict.errors import MotionPredictError

    try:
        return get(name)
    except MotionPredictError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


def check_method_params(method: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """Check hyper-parameter values of ``method`` against its declared ones; return them typed.

    A value must have the type of the declared default (an integer default takes only whole
    numbers, a float default any finite number, a boolean default only ``true``/``false``, a string
    default a string) and, where the default is positive, be non-negative (counts at least 1).

    Parameters
    ----------
    method
        Forecaster name.
    params
        ``{name: value}``.
    where
        Where the values come from (``--param``, a file and table), named in errors.

    Raises
    ------
    ConfigurationError
        An unknown name, or a value of the wrong type or sign, naming ``where`` and the key.
    """
    # the plausibility guard's settings are accepted by every method (not searched)
    declared = {hp.name: hp for hp in (*get(method).hyperparameters, *GUARD_PARAMETERS)}
    out: dict[str, Any] = {}
    for name, value in params.items():
        hp = declared.get(name)
        if hp is None:
            raise ConfigurationError(f"{where}: {method} has no hyper-parameter {name!r}; known: "
                                     f"{sorted(declared)}")
        default = hp.default
        key = f"{where}: {method} {name}"
        if default is None or value is None:
            out[name] = value
            continue
        typ = type(default) if isinstance(default, (bool, int, float, str)) else None
        if typ is None:
            out[name] = value
            continue
        v = strict_value(value, typ, key)
        if typ is int and default >= 1 and v < 1:
            raise ConfigurationError(f"{key}: must be >= 1, got {value!r}")
        if typ is float and default >= 0 and v < 0:
            raise ConfigurationError(f"{key}: must be >= 0, got {value!r}")
        out[name] = v
    return out


def _execution(ev: dict[str, Any], where: str) -> tuple[str, str]:
    """``(device, rnn_backend)`` of an ``[evaluation]`` table (``cuda`` implies ``batched``)."""
    from motionpredict.evaluation.protocol import DEVICES, RNN_BACKENDS

    device = ev.get("device", "cpu")
    if device not in DEVICES:
        raise ConfigurationError(f"{where}: [evaluation] device must be one of {DEVICES}, "
                                 f"got {device!r}")
    backend = ev.get("rnn_backend", "batched" if device == "cuda" else "loop")
    if backend not in RNN_BACKENDS:
        raise ConfigurationError(f"{where}: [evaluation] rnn_backend must be one of "
                                 f"{RNN_BACKENDS}, got {backend!r}")
    if device == "cuda" and backend == "loop":
        raise ConfigurationError(f"{where}: [evaluation] device 'cuda' runs the RNN grids "
                                 "batched; rnn_backend 'loop' runs on the CPU (drop one)")
    return str(device), str(backend)


#: Placeholders a string hyper-parameter (e.g. ``weights_path``) may hold, filled per job.
JOB_FIELDS = ("sequence", "horizon_steps", "horizon_ms", "mode", "seed", "method")


def _check_placeholders(value: Any, where: str) -> None:
    """Refuse a template whose placeholders are not job fields (at parse time, not per job)."""
    if not isinstance(value, str) or "{" not in value:
        return
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {value!r} is not a valid template ({exc})") from None
    bad = [n for n in names if n not in JOB_FIELDS]
    if bad:
        raise ConfigurationError(
            f"{where}: {value!r} uses {', '.join('{' + n + '}' for n in bad)}; placeholders: "
            + ", ".join("{" + f + "}" for f in JOB_FIELDS)
        )


def _resolve_path_template(value: Any, base: Path) -> Any:
    """A relative file path in a grid (e.g. ``weights_path``) is taken from the configuration's
    folder; placeholders such as ``{sequence}`` are kept for the job to fill in."""
    if not isinstance(value, str) or not value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def parse_config(data: dict[str, Any], *, base: Path, source: Path | None = None) -> EvalConfig:
    """Validate a configuration mapping (as read from TOML).

    Parameters
    ----------
    data
        The mapping.
    base
        Folder against which relative paths are resolved.
    source
        The file it came from (named in error messages).
    """
    where = str(source) if source else "configuration"
    unknown = set(data) - {"run", "sequences", "evaluation", "registration"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown section(s) {sorted(unknown)}")
    for sect in ("run", "evaluation", "registration"):
        if not isinstance(data.get(sect, {}), dict):
            raise ConfigurationError(f"{where}: [{sect}] must be a table, got {data[sect]!r}")
    run = dict(data.get("run", {}))
    ev = dict(data.get("evaluation", {}))
    reg = dict(data.get("registration", {}))
    for sect, keys, d in (("run", _RUN_KEYS, run), ("evaluation", _EVAL_KEYS, ev)):
        bad = set(d) - keys
        if bad:
            raise ConfigurationError(f"{where}: unknown key(s) {sorted(bad)} in [{sect}]; "
                                     f"known: {sorted(keys)}")
    _check_scalars(run, ev, reg, where)
    seqs = data.get("sequences")
    if not isinstance(seqs, list) or not seqs:
        raise ConfigurationError(f"{where}: at least one [[sequences]] entry is needed")
    sequences = []
    for i, s in enumerate(seqs):
        if not isinstance(s, dict):
            raise ConfigurationError(f"{where}: sequence {i + 1} must be a [[sequences]] table, "
                                     f"got {s!r}")
        bad = set(s) - _SEQ_KEYS
        if bad:
            raise ConfigurationError(f"{where}: sequence {i + 1}: unknown key(s) {sorted(bad)}")
        if ("path" in s) == ("phantom" in s):
            raise ConfigurationError(f"{where}: sequence {i + 1} needs exactly one of 'path' "
                                     "and 'phantom'")
        s = dict(s)
        if "path" in s:
            p = Path(s["path"]).expanduser()
            p = p if p.is_absolute() else (base / p)
            if not p.exists():
                raise InputFileError(p, f"sequence {i + 1} of {where} does not exist")
            s["path"] = str(p.resolve())
        elif s["phantom"] not in ("cine", "markers", "ct4d"):
            raise ConfigurationError(f"{where}: sequence {i + 1}: phantom must be cine, markers "
                                     f"or ct4d, got {s['phantom']!r}")
        sequences.append(s)
    methods = _list(ev.get("methods", []), str, f"{where} [evaluation] methods")
    if not methods:
        raise ConfigurationError(f"{where}: [evaluation] methods is empty")
    for m in methods:
        _method(m, f"{where}: [evaluation] methods")
    modes = _list(ev.get("modes", ["causal"]), str, f"{where} modes")
    for m in modes:
        if m not in MODES:
            raise ConfigurationError(f"{where}: mode {m!r} is not one of {MODES}")
    grids = ev.get("grids", {})
    if not isinstance(grids, dict) or not all(isinstance(g, dict) for g in grids.values()):
        raise ConfigurationError(f"{where}: [evaluation.grids.METHOD] tables expected")
    grid_preset = check_preset(ev.get("grid", PRESETS[0]), f"{where}: [evaluation]")
    grid_presets: dict[str, str] = {}
    for m, g in grids.items():
        if "grid" in g:
            grid_presets[m] = check_preset(g["grid"], f"{where}: [evaluation.grids.{m}]")
        g = {k: v for k, v in g.items() if k != "grid"}
        grids[m] = g
        known = {hp.name for hp in _method(m, f"{where}: [evaluation.grids.{m}]").hyperparameters}
        bad = set(g) - known
        if bad:
            raise ConfigurationError(f"{where}: grid of {m}: unknown hyper-parameter(s) "
                                     f"{sorted(bad)}; known: {sorted(known)}")
        for name, values in g.items():
            for v in values if isinstance(values, list) else [values]:
                _check_placeholders(v, f"{where}: grid of {m}: {name}")
                if not (isinstance(v, str) and "{" in v):
                    check_method_params(m, {name: v}, f"{where} [evaluation.grids.{m}]")
            if name.endswith("_path") and isinstance(values, list):
                g[name] = [_resolve_path_template(v, base) for v in values]
    out = run.get("output")
    output = None
    if out is not None:
        output = Path(out).expanduser()
        output = output if output.is_absolute() else base / output
    cache_dir = None
    if run.get("cache") is not None:
        cache_dir = Path(str(run["cache"])).expanduser()
        cache_dir = cache_dir if cache_dir.is_absolute() else base / cache_dir
    jobs = strict_value(run.get("jobs", 1), int, f"{where}: [run] jobs")
    if jobs < 1:
        raise ConfigurationError(f"{where}: [run] jobs must be >= 1")
    n_comp = (_list(ev["n_components"], int, f"{where} n_components")
              if "n_components" in ev else None)
    if n_comp is not None and (not n_comp or any(n < 1 for n in n_comp)):
        raise ConfigurationError(f"{where}: n_components must be >= 1")
    for key, typ in (("horizons_steps", int), ("horizons_s", float)):
        if key in ev:
            vals = _list(ev[key], typ, f"{where}: [evaluation] {key}")
            if not vals or any(v <= 0 for v in vals):
                unit = "whole numbers of steps" if typ is int else "times in s"
                raise ConfigurationError(f"{where}: [evaluation] {key} must be positive {unit}, "
                                         f"got {ev[key]!r}")
    if "triplet_count" in ev:
        strict_value(ev["triplet_count"], int, f"{where}: [evaluation] triplet_count")
    for i, s_ in enumerate(sequences):
        _check_sequence(s_, f"{where}: sequence {i + 1}")
    device, rnn_backend = _execution(ev, where)
    return EvalConfig(
        sequences=sequences,
        methods=methods,
        modes=modes,
        seeds=_list(ev.get("seeds", [0]), int, f"{where} seeds"),
        horizons_s=_list(ev["horizons_s"], float, f"{where} horizons_s")
        if "horizons_s" in ev else None,
        horizons_steps=_list(ev["horizons_steps"], int, f"{where} horizons_steps")
        if "horizons_steps" in ev else None,
        n_components=n_comp,
        grids={k: dict(v) for k, v in grids.items()},
        grid=grid_preset,
        grid_presets=grid_presets,
        lk={k: v for k, v in reg.items() if k not in _REG_KEYS},
        backend=str(reg.get("backend", "numpy")),
        round_horizons=bool(ev.get("round_horizons", False)),
        triplet_count=int(ev.get("triplet_count", 3)),
        system_latency_ms=float(ev["system_latency_ms"]) if "system_latency_ms" in ev else None,
        device=device,
        rnn_backend=rnn_backend,
        output=output,
        jobs=jobs,
        address=run.get("address"),
        cache_dir=cache_dir,
        name=str(run.get("name", source.stem if source else "evaluation")),
        source=source,
    )


def _check_scalars(run: dict[str, Any], ev: dict[str, Any], reg: dict[str, Any],
                   where: str) -> None:
    """Types of the single values of ``[run]``, ``[evaluation]`` and ``[registration]``."""
    for key in ("output", "cache", "address", "name"):
        if key in run:
            strict_value(run[key], str, f"{where}: [run] {key}")
    if "round_horizons" in ev:
        strict_value(ev["round_horizons"], bool, f"{where}: [evaluation] round_horizons")
    if "system_latency_ms" in ev and strict_value(
            ev["system_latency_ms"], float, f"{where}: [evaluation] system_latency_ms") < 0:
        raise ConfigurationError(f"{where}: [evaluation] system_latency_ms must be >= 0 ms")
    if "backend" in reg:
        strict_value(reg["backend"], str, f"{where}: [registration] backend")
    lk = {k: v for k, v in reg.items() if k not in _REG_KEYS}
    if lk:
        from motionpredict.errors import MotionPredictError
        from motionpredict.registration import LKParams

        try:
            LKParams.from_mapping(lk)
        except (MotionPredictError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: [registration] {exc}") from None


def _check_sequence(s: dict[str, Any], where: str) -> None:
    """Types and signs of a ``[[sequences]]`` entry (its data are checked when it is loaded)."""
    for key in ("frame_period_s", "duration_s", "rate_hz"):
        if key in s and strict_value(s[key], float, f"{where}: {key}") <= 0:
            raise ConfigurationError(f"{where}: {key} must be positive, got {s[key]!r}")
    for key in ("seed", "n_frames", "reference_index"):
        if key in s:
            strict_value(s[key], int, f"{where}: {key}")
    if "spacing_mm" in s:
        vals = _list(s["spacing_mm"], float, f"{where}: spacing_mm")
        if not vals or any(v <= 0 for v in vals):
            raise ConfigurationError(f"{where}: spacing_mm must be positive lengths in mm, got "
                                     f"{s['spacing_mm']!r}")
    if "shape" in s:
        vals = _list(s["shape"], int, f"{where}: shape")
        if any(v < 1 for v in vals):
            raise ConfigurationError(f"{where}: shape must be positive sizes, got {s['shape']!r}")
    sp = s.get("splits")
    if sp is None:
        return
    if not isinstance(sp, dict):
        raise ConfigurationError(f"{where}: splits must be a table "
                                 "{ train = [a, b], cv = [c, d], test = [e, f] }")
    windows = []
    for name in ("train", "cv", "validation", "test"):
        if name not in sp:
            continue
        w = _list(sp[name], int, f"{where}: splits {name}")
        if len(w) != 2 or w[0] < 1 or w[1] < w[0]:
            raise ConfigurationError(f"{where}: splits {name} must be [first, last], 1-based "
                                     f"inclusive, first <= last, got {sp[name]!r}")
        windows.append((name, w))
    for (n1, w1), (n2, w2) in itertools.pairwise(windows):
        if w2[0] <= w1[1]:
            raise ConfigurationError(f"{where}: splits {n1} {w1} and {n2} {w2} overlap or are "
                                     "out of order; each window must start after the previous ends")


def load_config(path: str | Path) -> EvalConfig:
    """Read and validate a TOML evaluation configuration file."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(p, "configuration file not found")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(p, f"not valid TOML: {exc}") from None
    return parse_config(data, base=p.resolve().parent, source=p)

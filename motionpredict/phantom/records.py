"""Parameter records: everything a phantom draws at random, kept apart from how it is applied.

A phantom first *draws* all its random quantities (cycle periods, tumour position, vessel paths,
noise seed...) into a frozen record, then *applies* the record deterministically. Passing the same
record again replays the run exactly, on any machine (the habit of TorchIO's
``RandomNoise`` -> ``Noise(seed=...)``). Records convert to plain JSON-able dictionaries and back.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

import numpy as np

from motionpredict.errors import ConfigurationError

R = TypeVar("R", bound="Record")


def to_jsonable(value: Any) -> Any:
    """Convert records, tuples and NumPy scalars/arrays into JSON-able Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def seed_streams(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived from ``seed`` (one per group of drawn quantities).

    Raises
    ------
    ConfigurationError
        When ``seed`` is not a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigurationError(f"seed must be a non-negative integer, got {seed!r}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(n)]


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


@dataclasses.dataclass(frozen=True)
class Record:
    """Base class of the frozen parameter records (``to_dict`` / ``from_dict`` round trip)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-able dictionary (nested records become dictionaries)."""
        out = to_jsonable(self)
        assert isinstance(out, dict)
        return out

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """Rebuild a record from :meth:`to_dict` output.

        Raises
        ------
        ConfigurationError
            When keys are missing or unknown.
        """
        if not isinstance(data, dict):
            raise ConfigurationError(f"{cls.__name__}: expected a dictionary, got {type(data)}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(data))
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise ConfigurationError(
                f"{cls.__name__}: missing keys {missing}, unknown keys {unknown}"
            )
        kwargs: dict[str, Any] = {}
        for name in names:
            hint = hints[name]
            value = data[name]
            if isinstance(hint, type) and issubclass(hint, Record):
                kwargs[name] = value if isinstance(value, hint) else hint.from_dict(value)
            else:
                kwargs[name] = _tuplify(value)
        return cls(**kwargs)

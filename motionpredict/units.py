"""Physical quantities shared by the pipeline, the evaluation and the command line.

A forecast horizon is a whole number of frame (sample) periods: the learner predicts the frame
``h`` periods ahead. A horizon asked for in seconds is converted with the sequence's period; one
that is not a whole number of periods is refused unless rounding was asked for, and the horizon
actually used (``steps x period_s``) is what every result is labelled with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from motionpredict.errors import ConfigurationError

__all__ = ["ROUND_OPTIONS", "Horizon", "parse_horizon_text"]

#: How a user asks for an inexact horizon to be rounded (named in the error that refuses it).
ROUND_OPTIONS = ("--round-horizon (motionpredict predict) or round_horizons = true in the "
                 "[evaluation] table of an evaluate configuration")

#: Relative tolerance under which a horizon in s counts as a whole number of periods.
WHOLE_TOLERANCE = 0.01


def parse_horizon_text(text: str) -> tuple[float | None, int | None]:
    """Parse a horizon written ``"0.6s"``, ``"600ms"`` or ``"3"`` / ``"3steps"`` / ``"3f"``.

    Returns
    -------
    (seconds, steps)
        Exactly one of the two is not ``None``.

    Raises
    ------
    ConfigurationError
        Text that is none of these forms, or fewer than 1 step.
    """
    t = text.strip().lower()
    try:
        if t.endswith("ms"):
            return float(t[:-2]) / 1e3, None
        if t.endswith("s") and not t.endswith("steps"):
            return float(t[:-1]), None
        for suffix in ("steps", "step", "f"):
            if t.endswith(suffix):
                t = t[: -len(suffix)]
                break
        n = int(t)
    except ValueError:
        raise ConfigurationError(
            f"horizon {text!r} not understood; write e.g. 0.6s, 600ms or 3steps"
        ) from None
    if n < 1:
        raise ConfigurationError(f"horizon must be at least 1 step, got {text!r}")
    return None, n


@dataclass(frozen=True)
class Horizon:
    """A forecast horizon as used: ``steps`` periods of ``period_s`` s.

    Attributes
    ----------
    steps
        Horizon in frames (samples), >= 1.
    period_s
        Frame (sample) period of the sequence in s, > 0.
    requested_s
        The horizon the user asked for in s (``None`` when it was given in steps).
    """

    steps: int
    period_s: float
    requested_s: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or int(self.steps) != self.steps or self.steps < 1:
            raise ConfigurationError(f"horizon must be a whole number of steps >= 1, "
                                     f"got {self.steps!r}")
        if not (math.isfinite(self.period_s) and self.period_s > 0):
            raise ConfigurationError(
                f"frame period must be a positive time in s, got {self.period_s}")

    @property
    def seconds(self) -> float:
        """The actual horizon in s: ``steps x period_s``."""
        return self.steps * self.period_s

    @property
    def rounded(self) -> bool:
        """``True`` when the requested time differs from the actual one by more than 1e-6 s."""
        return self.requested_s is not None and abs(self.requested_s - self.seconds) > 1e-6

    @classmethod
    def from_seconds(cls, seconds: float, period_s: float, *, rounded: bool = False) -> Horizon:
        """The horizon of ``seconds`` s on a sequence of period ``period_s``.

        Parameters
        ----------
        seconds
            Requested horizon in s (> 0).
        period_s
            Frame (sample) period in s (> 0).
        rounded
            Round to the nearest whole number of periods (at least 1) instead of refusing a time
            that is not within 1 % of one (strict, the default).

        Raises
        ------
        ConfigurationError
            A non-positive time or period, or (strict) a time that is not a whole number of
            periods; the message names the rounding options (:data:`ROUND_OPTIONS`).
        """
        if not (math.isfinite(seconds) and seconds > 0):
            raise ConfigurationError(f"horizon must be a positive time in s, got {seconds}")
        if not (math.isfinite(period_s) and period_s > 0):
            raise ConfigurationError(f"frame period must be a positive time in s, got {period_s}")
        ratio = seconds / period_s
        steps = max(1, round(ratio))
        if abs(ratio - steps) > WHOLE_TOLERANCE * max(ratio, 1.0) and not rounded:
            raise ConfigurationError(
                f"horizon {seconds:g} s is {ratio:.3f} frame periods of {period_s:g} s, not a "
                f"whole number; use {steps * period_s:.6g} s ({steps} steps), or round it with "
                f"{ROUND_OPTIONS}"
            )
        return cls(int(steps), float(period_s), float(seconds))

    @classmethod
    def from_text(cls, text: str, period_s: float, *, rounded: bool = False) -> Horizon:
        """Parse ``"0.6s"``, ``"600ms"`` or ``"3steps"`` (:func:`parse_horizon_text`) and convert
        with ``period_s`` (:meth:`from_seconds`)."""
        secs, steps = parse_horizon_text(text)
        if secs is not None:
            return cls.from_seconds(secs, period_s, rounded=rounded)
        assert steps is not None
        return cls(steps, float(period_s))

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-able record: ``steps``, ``period_s``, ``seconds`` (actual) and ``requested_s``."""
        return {"steps": int(self.steps), "period_s": float(self.period_s),
                "seconds": float(self.seconds), "requested_s": self.requested_s}

    def label(self, unit: str = "frames") -> str:
        """``"0.628 s (2 frames of 0.314 s)"``, with ``requested 0.6 s`` when it was rounded."""
        one = unit[:-1] if unit.endswith("s") and self.steps == 1 else unit
        text = f"{self.seconds:.4g} s ({self.steps} {one} of {self.period_s:.4g} s)"
        if self.rounded:
            text += f", requested {self.requested_s:g} s"
        return text

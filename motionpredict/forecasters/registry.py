"""Registry of forecasting methods by name (``"rtrl"``, ``"lms"``...)."""

from __future__ import annotations

from typing import TypeVar

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import Forecaster

F = TypeVar("F", bound=type[Forecaster])

_REGISTRY: dict[str, type[Forecaster]] = {}


def register(cls: F) -> F:
    """Class decorator: make a forecaster available under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"forecaster name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Forecaster]:
    """Return the forecaster class registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        ) from None


def available() -> list[str]:
    """Names of all registered forecasters, sorted."""
    return sorted(_REGISTRY)

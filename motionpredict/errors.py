"""Exception hierarchy of motionpredict.

Every error caused by user input (a bad file, a missing option, an invalid argument) is a
:class:`MotionPredictError`. The command-line interface turns it into a one-line message and exit
status 2, never a traceback. Programming errors keep their ordinary Python types.
"""

from __future__ import annotations

from pathlib import Path


class MotionPredictError(Exception):
    """Base class of all errors that a user can cause and fix."""


class ValidationError(MotionPredictError, ValueError):
    """A value violates the data model (non-finite numbers, wrong shape, non-monotonic times...)."""


class InputFileError(MotionPredictError):
    """A file or folder cannot be read as asked; the message names the path and the problem.

    Parameters
    ----------
    path
        The offending file or folder.
    problem
        What is wrong with it, in words a user understands.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class MissingMetadataError(MotionPredictError):
    """A physical quantity (pixel spacing, frame period) is unknown and may not be assumed."""


class ConfigurationError(MotionPredictError, ValueError):
    """An option, a configuration file or a combination of settings is invalid."""

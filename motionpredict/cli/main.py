"""The ``motionpredict`` command line.

Every sub-command lives in its own module of :mod:`motionpredict.cli` and exposes
``add_parser(subparsers) -> argparse.ArgumentParser`` whose parser sets ``func(args) -> int``.
User errors (:class:`~motionpredict.errors.MotionPredictError`, bad arguments) end with a one-line
message on stderr and exit status 2, never a traceback. So do the errors of the places a user
points to: an unreadable or read-only file or folder (:class:`OSError`), a results store that
cannot be opened (:class:`sqlite3.Error`), an input too large for the memory (:class:`MemoryError`).

Commands that write an output folder (``predict``, ``register``, ``phantom``, ``demo``) build it
in a hidden staging folder beside it (:func:`motionpredict.io.atomic.stage_output`); it is moved
into place only when the command succeeds and deleted when it fails. An existing output folder is
refused unless ``--force`` is given (then it is replaced whole, once the new one is complete).
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from motionpredict import __version__
from motionpredict.errors import MotionPredictError

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "phantom",
    "info",
    "datasets",
    "register",
    "predict",
    "target",
    "evaluate",
    "train-population",
    "results",
    "report",
    "gui",
    "live",
    "send",
)

EXIT_USER_ERROR = 2

#: Commands whose output folder is staged and may be replaced with ``--force``.
STAGED_COMMANDS: tuple[str, ...] = ("demo", "phantom", "register", "predict", "evaluate",
                                    "target")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command registered."""
    parser = _Parser(
        prog="motionpredict",
        description=(
            "Respiratory-motion prediction for radiotherapy: register cine-MRI / 4DCT frames, "
            "reduce the motion to a few PCA weights, forecast them a horizon ahead and build the "
            "predicted future frame. Lengths are in mm, times in s."
        ),
    )
    parser.add_argument("--version", action="version", version=f"motionpredict {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"motionpredict.cli.{name.replace('-', '_')}")
        p = module.add_parser(sub)
        if name in STAGED_COMMANDS and p is not None:
            p.add_argument("--force", action="store_true",
                           help="replace an existing output folder (whole, once the new output "
                                "is complete); without it an existing folder is refused")
    return parser


class _StagedPaths:
    """A text stream that writes staging-folder paths as the final output paths."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        from motionpredict.io.atomic import staged_outputs

        for tmp, final in staged_outputs():
            text = text.replace(str(tmp), str(final))
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _one_line(text: str) -> str:
    """The first line of a message, printable characters only (never raw bytes of a file)."""
    line = " ".join(str(text).split())
    return "".join(c if c.isprintable() else "?" for c in line)


def error_message(exc: BaseException) -> str | None:
    """The one-line message of an error a user can fix, or ``None`` for a programming error."""
    if isinstance(exc, MotionPredictError):
        return _one_line(str(exc))
    if isinstance(exc, MemoryError):
        return ("not enough memory for this input (" + (_one_line(str(exc)) or "allocation failed")
                + "); check the image size in the file headers")
    if isinstance(exc, sqlite3.Error):
        return (f"cannot use the results store ({_one_line(str(exc))}); is the run folder "
                "readable and writable?")
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else ""
        what = exc.strerror or _one_line(str(exc))
        if exc.filename2 is not None:
            where = f"{where} -> {exc.filename2}"
        return f"{where}: {what}" if where else what
    return None



def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USER_ERROR
    from threadpoolctl import threadpool_limits

    # The hot loops (online learners, registration of one frame) work on small arrays: several
    # BLAS threads only fight over the cores. One thread for BLAS; OpenCV and torch keep theirs.
    threadpool_limits(limits=1, user_api="blas")
    from motionpredict.io.atomic import commit_outputs, discard_outputs

    stdout = sys.stdout
    sys.stdout = _StagedPaths(stdout)  # type: ignore[assignment]
    try:
        status = int(args.func(args) or 0)
        if status == 0:
            commit_outputs()
        return status
    except KeyboardInterrupt:
        print("motionpredict: interrupted", file=sys.stderr)
        return 130
    except (MotionPredictError, MemoryError, sqlite3.Error, OSError) as exc:
        print(f"motionpredict {args.command}: error: {error_message(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        discard_outputs()  # a failed command leaves no output behind (no-op after commit)
        sys.stdout = stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``motionpredict`` command line.

Every sub-command lives in its own module of :mod:`motionpredict.cli` and exposes
``add_parser(subparsers) -> argparse.ArgumentParser`` whose parser sets ``func(args) -> int``.
User errors (:class:`~motionpredict.errors.MotionPredictError`, bad arguments) end with a one-line
message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    "evaluate",
    "train-population",
    "results",
    "report",
    "gui",
)

EXIT_USER_ERROR = 2


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
        module.add_parser(sub)
    return parser


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
    try:
        return int(args.func(args) or 0)
    except MotionPredictError as exc:
        print(f"motionpredict {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("motionpredict: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

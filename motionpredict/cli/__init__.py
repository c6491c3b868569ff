"""Command-line interface; see :mod:`motionpredict.cli.main`."""

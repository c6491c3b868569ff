"""``python -m motionpredict`` runs the command line."""

import sys

from motionpredict.cli.main import main

sys.exit(main())

"""`python -m lib.runner`: execute the study notebooks and render their reports (see execute.py)."""

import sys

from lib.runner.execute import main

sys.exit(main())

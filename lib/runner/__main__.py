"""`python -m lib.runner`: execute the study notebooks and render their reports (see execute.py)."""

import sys

try:
    from lib.runner.execute import main
except KeyboardInterrupt:  # Ctrl-C during the imports, before the runner handles it (execute._Interrupts)
    print("Interrupted before anything ran.")
    sys.exit(130)

sys.exit(main())

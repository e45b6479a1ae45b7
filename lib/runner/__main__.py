"""`python -m lib.runner`: execute the study notebooks and render their reports (see execute.py)."""

import signal
import sys

# A Ctrl-C during the imports stops here even where the runner started with
# SIGINT ignored (a background job); execute._Interrupts takes over after.
signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    from lib.runner.execute import main
except KeyboardInterrupt:  # Ctrl-C during the imports, before the runner handles it (execute._Interrupts)
    print("Interrupted before anything ran.")
    sys.exit(130)

sys.exit(main())

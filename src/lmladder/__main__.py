import sys

from .interrupt import quietly

with quietly():  # a Ctrl-C while the command's modules load: one line and exit 130, not a traceback
    from .cli import main

sys.exit(main())

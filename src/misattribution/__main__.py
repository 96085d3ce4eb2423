"""``python -m misattribution ...``: the same as the ``misattribution`` command."""

import sys

from misattribution.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m router.cli``: the ``stellwerk`` command."""

import sys

from . import main

sys.exit(main())

"""``python -m hachi.cli``, as the service unit and the tests run it."""

import sys

from hachi.cli.main import main

sys.exit(main())

"""``python -m qapi_jobs.codegen``: see :mod:`qapi_jobs.codegen.cli`."""

import sys

from qapi_jobs.codegen.cli import main

sys.exit(main())

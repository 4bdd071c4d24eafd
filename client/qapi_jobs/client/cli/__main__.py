"""``python -m qapi_jobs.client.cli``: the same as the ``qapi-jobs`` command."""

import sys

from qapi_jobs.client.cli.main import main

sys.exit(main())

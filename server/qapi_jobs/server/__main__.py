"""``python -m qapi_jobs.server [options]``: run the gRPC server."""

import sys

from qapi_jobs.server.cli import main

sys.exit(main())

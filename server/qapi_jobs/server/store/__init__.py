"""The durable store: job records and the event log in SQLite inside the data directory.

One server owns a data directory at a time (:mod:`.lock`); the store file
lives in :data:`~.layout.STATE_DIR_NAME` below it, away from the images
clients name.  :func:`open_store` refuses anything it cannot trust (another
server's lock, a damaged file, another program's database, a newer schema)
with a :class:`StoreError` that says what to do, and never discards data.
"""

from qapi_jobs.server.store.errors import StoreError
from qapi_jobs.server.store.layout import STATE_DIR_NAME
from qapi_jobs.server.store.lock import DataDirLock, claim_data_dir
from qapi_jobs.server.store.store import Store, open_store

__all__ = ["STATE_DIR_NAME", "DataDirLock", "Store", "StoreError", "claim_data_dir", "open_store"]

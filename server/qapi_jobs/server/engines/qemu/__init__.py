"""The qemu engine: jobs run by a qemu-storage-daemon the server starts and owns.

See docs/qemu-engine.md; :class:`~qapi_jobs.server.engines.qemu.jobs.QemuJobs` is the backend.
"""

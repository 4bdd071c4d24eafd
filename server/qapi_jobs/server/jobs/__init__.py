"""The job manager: QEMU's job state machine, drivers and the event log.

Plain Python on asyncio; nothing here imports gRPC.
"""

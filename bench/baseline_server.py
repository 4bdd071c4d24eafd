"""The baseline gRPC server process: the echo and broadcast services, nothing else.

``python -m bench.baseline_server [--event-size N]`` listens on an ephemeral
port of 127.0.0.1 and prints ``LISTENING <port>``.  It exits on SIGTERM, when
its stdin is closed (so it never outlives the benchmark), or after
``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading

import grpc

from bench.broadcast_service import Broadcaster, BroadcastHandler
from bench.echo_service import EchoHandler


async def serve(event_size: int, max_seconds: float) -> None:
    """Serve until told to stop."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([EchoHandler(), BroadcastHandler(Broadcaster(event_size))])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"LISTENING {port}", flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    watch_stdin(loop, stop)
    try:
        await asyncio.wait_for(stop.wait(), max_seconds)
    except TimeoutError:
        print("baseline server: --max-seconds reached", file=sys.stderr)
    await server.stop(0)


def watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` once stdin reaches end of file (the parent closed it or died)."""

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(stop.set)

    # A daemon thread: a blocked read must not hold up the interpreter's exit.
    threading.Thread(target=wait_for_eof, name="stdin-eof", daemon=True).start()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_server")
    parser.add_argument("--event-size", type=int, default=64, help="bytes per broadcast event")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long")
    args = parser.parse_args()
    asyncio.run(serve(args.event_size, args.max_seconds))


if __name__ == "__main__":
    main()

"""The server: JobsService, WatchService, health and reflection on one grpc.aio server.

Start one in-process::

    server = await build_server(ServerConfig(data_dir=path, listen=("127.0.0.1:0",)))
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    ...
    await server.stop()

Stopping follows the order load balancers and watchers need: health goes
NOT_SERVING, every watch stream ends at once with UNAVAILABLE, the server
refuses new calls and lets unary calls in flight finish (for at most the
grace period) while the job manager cancels every job, as QEMU does on
quit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from qapi_jobs.server.engines.base import Engine
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.grpc.commands import Commands
from qapi_jobs.server.grpc.config import ConfigError, ServerConfig, bound_address
from qapi_jobs.server.grpc.credentials import server_credentials
from qapi_jobs.server.grpc.jobs_service import SERVICE_NAME as JOBS_SERVICE
from qapi_jobs.server.grpc.jobs_service import add_jobs_service
from qapi_jobs.server.grpc.logs import EVENTS_LOGGER, log_job_events
from qapi_jobs.server.grpc.watch import SERVICE_NAME as WATCH_SERVICE
from qapi_jobs.server.grpc.watch import WatchServicer
from qapi_jobs.server.grpc.watch import add_to_server as add_watch_service
from qapi_jobs.server.jobs.manager import JobManager
from qapi_jobs.server.store import Store, StoreError, open_store

logger = logging.getLogger(__name__)

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
SERVICES = (JOBS_SERVICE, WATCH_SERVICE)
"""The application services; health reports each of them (and ``""``)."""
REFLECTED_SERVICES = (*SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME)
_EVENT_LOGGER_DRAIN = 1.0
"""Seconds the job event logger gets at shutdown to log the last events."""


class ListenError(OSError):
    """An address the server could not listen on."""


def make_engine(name: str, data_dir: Path) -> Engine:
    """The engine called ``name`` working in ``data_dir`` (blocking: checks the directory)."""
    if name == "qemu":
        raise ConfigError("the qemu engine is not available yet; use --engine builtin")
    if name != "builtin":
        raise ConfigError(f"unknown engine {name!r}")
    try:
        return BuiltinEngine(data_dir)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def grpc_options(config: ServerConfig) -> list[tuple[str, int]]:
    """The gRPC core arguments of the server."""
    return [
        ("grpc.max_send_message_length", config.max_message_size),
        ("grpc.max_receive_message_length", config.max_message_size),
        # Without this a second server on a busy port binds it silently.
        ("grpc.so_reuseport", 0),
        # The default (1000) makes gRPC cancel calls that arrive together before
        # they reach a handler: a reconnect storm of thousands of watchers.
        ("grpc.server.max_pending_requests", 20_000),
        ("grpc.server.max_pending_requests_hard_limit", 40_000),
        *config.keepalive.channel_options(),
    ]


class JobsServer:
    """A built server: its parts, the addresses it listens on, start and stop."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        manager: JobManager,
        engine: Engine,
        watch: WatchServicer,
        health: health_aio.HealthServicer,
        server: grpc.aio.Server,
        addresses: tuple[str, ...],
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.manager = manager
        self.engine = engine
        self.watch = watch
        self.health = health
        self.grpc_server = server
        self.addresses = addresses
        """Where clients connect, e.g. ``127.0.0.1:43121`` (ports chosen when 0 was asked)."""
        self._started = False
        self._stopping: asyncio.Future[None] | None = None
        self._stopped = asyncio.Event()
        self._event_logger: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """The first listen address, as a client dials it."""
        return self.addresses[0]

    @property
    def ports(self) -> tuple[int, ...]:
        """The bound TCP ports, in the order of the listen addresses (unix sockets left out)."""
        return tuple(
            int(address.rpartition(":")[2])
            for address in self.addresses
            if not address.startswith("unix")
        )

    async def start(self) -> None:
        """Start serving; health reports every service SERVING."""
        if self._started:
            return
        self._started = True
        for service in ("", *SERVICES):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if logging.getLogger(EVENTS_LOGGER).isEnabledFor(logging.DEBUG):
            self._event_logger = asyncio.create_task(
                log_job_events(self.manager), name="log-job-events"
            )
        await self.grpc_server.start()
        logger.info("listening", extra={"addresses": list(self.addresses)})

    async def stop(self, grace: float | None = None) -> None:
        """Shut down gracefully (see the module docstring); safe to call more than once.

        ``grace`` (default: the configured shutdown grace) bounds how long
        unary calls in flight may run on and how long jobs get to honour
        their cancellation.
        """
        if self._stopping is None:
            seconds = self.config.shutdown_grace if grace is None else grace
            self._stopping = asyncio.ensure_future(self._shutdown(seconds))
        await asyncio.shield(self._stopping)

    async def _shutdown(self, grace: float) -> None:
        logger.info("shutting down", extra={"grace": grace})
        await self.health.enter_graceful_shutdown()
        self.watch.close_all()
        try:
            await asyncio.gather(self.grpc_server.stop(grace), self.manager.shutdown(grace))
        finally:
            if self._event_logger is not None:
                await _finish(self._event_logger)
            if self.store is not None:
                await asyncio.to_thread(self.store.close)
            self._stopped.set()
            logger.info("stopped")

    async def wait_stopped(self) -> None:
        """Return once :meth:`stop` has finished."""
        await self._stopped.wait()

    async def __aenter__(self) -> JobsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def _finish(event_logger: asyncio.Task[None]) -> None:
    # The manager's shutdown closes the event log, which ends the logger
    # once it has logged the last event; cancel it only if that never comes.
    done, _ = await asyncio.wait({event_logger}, timeout=_EVENT_LOGGER_DRAIN)
    if not done:
        event_logger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await event_logger


def _listen(
    server: grpc.aio.Server, listen: tuple[str, ...], credentials: grpc.ServerCredentials | None
) -> tuple[str, ...]:
    bound: list[str] = []
    for address in listen:
        try:
            if credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, credentials)
        except RuntimeError as exc:
            raise ListenError(f"cannot listen on {address}: {exc}") from exc
        if port == 0:
            raise ListenError(f"cannot listen on {address}")
        bound.append(bound_address(address, port))
    return tuple(bound)


async def build_server(config: ServerConfig, *, engine: Engine | None = None) -> JobsServer:
    """Build a server from ``config`` and bind its addresses; :meth:`JobsServer.start` it.

    ``engine`` replaces the one ``config.engine`` names (tests use a tuned
    builtin engine).  Raises ConfigError for an unusable configuration
    (unknown engine, missing data directory, unreadable TLS files) and
    ListenError when an address cannot be bound.
    """
    if engine is None:
        engine = await asyncio.to_thread(make_engine, config.engine, config.data_dir)
    credentials = None
    if config.tls is not None:
        credentials = await asyncio.to_thread(server_credentials, config.tls)
    store = await _open_store(config)
    try:
        manager = await _job_manager(config, store)
        server = grpc.aio.server(options=grpc_options(config))
        return _assemble(config, manager, engine, server, credentials, store)
    except BaseException:
        if store is not None:
            await asyncio.to_thread(store.close)
        raise


async def _open_store(config: ServerConfig) -> Store | None:
    if not config.state.durable:
        return None
    try:
        return await asyncio.to_thread(
            open_store, config.data_dir, power_loss=config.state.power_loss
        )
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot open the state store in {config.data_dir}: {exc}") from exc


async def _job_manager(config: ServerConfig, store: Store | None) -> JobManager:
    """The job manager, with the jobs and events of the store if there is one."""

    def build() -> JobManager:
        # Reading the retained events is blocking work: in a thread.
        return JobManager(
            event_retention=config.event_retention,
            subscriber_max_lag=config.watch.max_lag,
            journal=store,
            event_max_age=config.state.event_max_age,
        )

    manager = await asyncio.to_thread(build)
    if store is not None:
        records = await asyncio.to_thread(store.load_jobs)
        try:
            await manager.restore(records)
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(
                f"the state store {store.path} holds a job record this server cannot read "
                f"({exc!r}); move the store away or run the server that wrote it"
            ) from exc
    return manager


def _assemble(
    config: ServerConfig,
    manager: JobManager,
    engine: Engine,
    server: grpc.aio.Server,
    credentials: grpc.ServerCredentials | None,
    store: Store | None,
) -> JobsServer:
    watch = WatchServicer(manager, config.watch)
    health = health_aio.HealthServicer()
    add_jobs_service(server, Commands(manager, engine), watch.stream_events_handler())
    add_watch_service(watch, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(REFLECTED_SERVICES, server)
    addresses = _listen(server, config.listen, credentials)
    return JobsServer(
        config,
        manager=manager,
        engine=engine,
        watch=watch,
        health=health,
        server=server,
        addresses=addresses,
        store=store,
    )

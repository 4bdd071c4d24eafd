"""The server: JobsService, WatchService, health and reflection on one grpc.aio server.

Start one in-process::

    server = await build_server(ServerConfig(data_dir=path, listen=("127.0.0.1:0",)))
    await server.start()
    channel = grpc.aio.insecure_channel(server.address)
    ...
    await server.stop()

Stopping follows the order load balancers, clients and watchers need, all
within the grace period: health goes NOT_SERVING and Health.Watch streams
end; the server refuses new calls and lets unary calls in flight finish;
the job manager then cancels every job, as QEMU does on quit, and
publishes the cancellations; watch streams deliver them and end (with
UNAVAILABLE, saying where to resume, if they have not ended by
themselves).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.trace import TracerProvider

from qapi_jobs.server.engines.backend import BuiltinJobs, JobBackend
from qapi_jobs.server.engines.base import Engine
from qapi_jobs.server.engines.builtin import BuiltinEngine
from qapi_jobs.server.engines.builtin.image_job import remove_restored
from qapi_jobs.server.engines.builtin.paths import DataDir
from qapi_jobs.server.engines.qemu.jobs import QemuJobs
from qapi_jobs.server.engines.qemu.process import (
    DaemonError,
    StorageDaemon,
    run_dir_for,
)
from qapi_jobs.server.grpc.commands import Commands
from qapi_jobs.server.grpc.config import ConfigError, ServerConfig, bound_address, split_address
from qapi_jobs.server.grpc.credentials import server_credentials
from qapi_jobs.server.grpc.guard import Guard
from qapi_jobs.server.grpc.health import DrainingHealthServicer
from qapi_jobs.server.grpc.jobs_service import SERVICE_NAME as JOBS_SERVICE
from qapi_jobs.server.grpc.jobs_service import add_jobs_service
from qapi_jobs.server.grpc.logs import EVENTS_LOGGER, log_job_events
from qapi_jobs.server.grpc.observability import Observability
from qapi_jobs.server.grpc.owners import JobOwners
from qapi_jobs.server.grpc.policy import Policy, load_policy
from qapi_jobs.server.grpc.watch import SERVICE_NAME as WATCH_SERVICE
from qapi_jobs.server.grpc.watch import WatchServicer
from qapi_jobs.server.grpc.watch import add_to_server as add_watch_service
from qapi_jobs.server.store import DataDirLock, Store, StoreError, claim_data_dir, open_store

logger = logging.getLogger(__name__)

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
SERVICES = (JOBS_SERVICE, WATCH_SERVICE)
"""The application services; health reports each of them (and ``""``)."""
REFLECTED_SERVICES = (*SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME)
_EVENT_LOGGER_DRAIN = 1.0
"""Seconds the job event logger gets at shutdown to log the last events."""


class ListenError(OSError):
    """An address the server could not listen on."""


def make_engine(config: ServerConfig) -> Engine:
    """The builtin engine, working in ``config``'s data directory (blocking: opens it).

    The qemu engine has no Engine object: :func:`make_qemu_backend` builds its backend.
    """
    if config.engine != "builtin":
        raise ConfigError(f"unknown engine {config.engine!r}")
    try:
        return BuiltinEngine(_data_dir(config))
    except (ValueError, OSError) as exc:
        raise ConfigError(str(exc)) from exc


def _data_dir(config: ServerConfig) -> DataDir:
    return DataDir(
        config.data_dir,
        new_file_mode=config.new_file_mode,
        allow_hard_links=config.allow_hard_links,
        max_open_files=config.limits.max_open_files,
    )


async def make_qemu_backend(config: ServerConfig) -> QemuJobs:
    """The qemu engine's backend, its daemon started (or an earlier one taken over).

    The daemon is spawned before the gRPC server starts (forking a process
    that runs gRPC threads is asking for trouble).  The durable store is
    the builtin engine's: QEMU keeps its jobs' state, and the engine's
    journal lives with the daemon.
    """
    try:
        data_dir = await asyncio.to_thread(_data_dir, config)
        run_dir = await asyncio.to_thread(run_dir_for, data_dir.root)
        daemon = StorageDaemon(run_dir, config.qemu_storage_daemon)
        backend = QemuJobs(
            daemon,
            data_dir,
            event_retention=config.event_retention,
            subscriber_max_lag=config.watch.max_lag,
            keep_daemon=config.qemu_keep_daemon,
            limits=config.limits.jobs,
        )
        await backend.open()
    except (ValueError, OSError, DaemonError) as exc:
        raise ConfigError(str(exc)) from exc
    return backend


def grpc_options(config: ServerConfig) -> list[tuple[str, int]]:
    """The gRPC core arguments of the server."""
    return [
        ("grpc.max_send_message_length", config.max_message_size),
        *config.limits.channel_options(),
        # Without this a second server on a busy port binds it silently.
        ("grpc.so_reuseport", 0),
        # The default (1000) makes gRPC cancel calls that arrive together before
        # they reach a handler: a reconnect storm of thousands of watchers.
        ("grpc.server.max_pending_requests", 20_000),
        ("grpc.server.max_pending_requests_hard_limit", 40_000),
        *config.keepalive.channel_options(),
        *(config.connection_age.channel_options() if config.connection_age else ()),
    ]


class JobsServer:
    """A built server: its parts, the addresses it listens on, start and stop."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        manager: JobBackend,
        watch: WatchServicer,
        health: DrainingHealthServicer,
        guard: Guard,
        server: grpc.aio.Server,
        addresses: tuple[str, ...],
        observability: Observability,
        store: Store | None = None,
        lock: DataDirLock | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._lock = lock
        self.manager = manager
        """The job backend: the builtin job manager or the qemu engine's."""
        self.watch = watch
        self.health = health
        self.guard = guard
        self.grpc_server = server
        self.addresses = addresses
        """Where clients connect, e.g. ``127.0.0.1:43121`` (ports chosen when 0 was asked)."""
        self.observability = observability
        """Metrics and traces (each only when configured)."""
        self._started = False
        self._stopping: asyncio.Future[None] | None = None
        self._stopped = asyncio.Event()
        self._event_logger: asyncio.Task[None] | None = None
        self._health_follower: asyncio.Task[None] | None = None

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
        if isinstance(self.manager, QemuJobs):
            self._health_follower = asyncio.create_task(
                _follow_daemon(self.manager, self.health), name="follow-qemu-health"
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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self._health_follower is not None:
            self._health_follower.cancel()
        await self.health.enter_graceful_shutdown()
        # New calls are refused from here on; calls in flight keep running.
        stopping = asyncio.ensure_future(self.grpc_server.stop(grace))
        try:
            await _within(self.guard.wait_unary_calls(), deadline - loop.time())
            await self.manager.shutdown(max(0.0, deadline - loop.time()))
            # The event log is closed: each watch stream ends once it has
            # sent the cancellations.  Those that do not are closed.
            await _within(self.watch.wait_closed(), deadline - loop.time())
            self.watch.close_all()
            await stopping
        finally:
            if self._event_logger is not None:
                await _finish(self._event_logger)
            # The store first: what the jobs did must be written even if
            # stopping the metrics endpoint fails or is abandoned.
            if self.store is not None:
                await asyncio.to_thread(self.store.close)
            if self._lock is not None:
                self._lock.release()
            await self.observability.stop()
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


async def _follow_daemon(backend: QemuJobs, health: DrainingHealthServicer) -> None:
    """NOT_SERVING while the qemu engine's daemon is down, SERVING again once it is back."""
    version, serving = backend.change_version, True
    while True:
        version = await backend.wait_for_change(version)
        if backend.healthy != serving:
            serving = backend.healthy
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for service in ("", *SERVICES):
                await health.set(service, status)


async def _within(awaitable: Coroutine[Any, Any, None], seconds: float) -> None:
    """Await ``awaitable`` for at most ``seconds`` (a timeout is no error here)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(awaitable, max(0.0, seconds))


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


async def build_server(
    config: ServerConfig,
    *,
    engine: Engine | None = None,
    tracer_provider: TracerProvider | None = None,
) -> JobsServer:
    """Build a server from ``config`` and bind its addresses; :meth:`JobsServer.start` it.

    ``engine`` replaces the one ``config.engine`` names (tests use a tuned
    builtin engine).  Raises ConfigError for an unusable configuration
    (unknown engine, missing data directory, unreadable TLS files),
    StoreError when the durable store cannot be opened (another server
    owns the data directory, a damaged or foreign store file, a read-only
    directory), and ListenError when an address cannot be bound.
    ``tracer_provider`` turns tracing on (see :mod:`.tracing`).
    """
    credentials = None
    if config.tls is not None:
        credentials = await asyncio.to_thread(server_credentials, config.tls)
    policy = None if config.policy is None else await asyncio.to_thread(load_policy, config.policy)
    warn_if_exposed(config)
    if engine is None and config.engine == "qemu":
        return await _qemu_server(config, credentials, policy, tracer_provider)
    if engine is None:
        engine = await asyncio.to_thread(make_engine, config)
    store = await _open_store(config)
    # Without a store, the data directory is still claimed: one server each.
    lock = None if store is not None else await _claim(config)
    try:
        manager = await _job_manager(config, engine, store)
        return await _assemble(config, manager, credentials, policy, tracer_provider, store, lock)
    except BaseException:
        if store is not None:
            await asyncio.to_thread(store.close)
        if lock is not None:
            lock.release()
        raise


async def _qemu_server(
    config: ServerConfig,
    credentials: grpc.ServerCredentials | None,
    policy: Policy | None,
    tracer_provider: TracerProvider | None,
) -> JobsServer:
    """The server of the qemu engine; its daemon is stopped again if the server cannot start."""
    lock = await _claim(config)
    try:
        backend = await make_qemu_backend(config)
    except BaseException:
        lock.release()
        raise
    try:
        return await _assemble(config, backend, credentials, policy, tracer_provider, None, lock)
    except BaseException:
        await backend.shutdown(0.0)
        lock.release()
        raise


async def _claim(config: ServerConfig) -> DataDirLock:
    try:
        return await asyncio.to_thread(claim_data_dir, config.data_dir)
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot lock the data directory {config.data_dir}: {exc}") from exc


async def _assemble(
    config: ServerConfig,
    manager: JobBackend,
    credentials: grpc.ServerCredentials | None,
    policy: Policy | None,
    tracer_provider: TracerProvider | None,
    store: Store | None,
    lock: DataDirLock | None,
) -> JobsServer:
    observability = Observability(manager, manager, config, SERVICES, tracer_provider)
    owners = JobOwners(
        lambda: [info.id for info in manager.query_jobs()],
        prune_above=2 * config.limits.jobs.max_jobs,
        stored=manager.owner_of,
    )
    guard = Guard(
        policy=policy,
        max_streams_per_connection=config.limits.max_streams_per_connection,
        owners=owners,
    )
    # Observability outermost, so that the guard's refusals are counted and traced too.
    server = grpc.aio.server(
        options=grpc_options(config), interceptors=[*observability.interceptors(), guard]
    )
    watch = WatchServicer(manager, config.watch, observability.event_encoder())
    health = DrainingHealthServicer()
    add_jobs_service(server, Commands(manager), watch.stream_events_handler())
    add_watch_service(watch, server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(REFLECTED_SERVICES, server)
    addresses = _listen(server, config.listen, credentials)
    try:
        await observability.start()
    except OSError as exc:
        await server.stop(None)  # release the gRPC ports bound above
        raise ListenError(f"cannot serve metrics on {config.metrics_listen}: {exc}") from exc
    return JobsServer(
        config,
        manager=manager,
        watch=watch,
        health=health,
        guard=guard,
        server=server,
        addresses=addresses,
        observability=observability,
        store=store,
        lock=lock,
    )


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


async def _job_manager(config: ServerConfig, engine: Engine, store: Store | None) -> BuiltinJobs:
    """The builtin backend, with the jobs and events of the store if there is one."""

    def build() -> BuiltinJobs:
        # Opening the event log reads the store: blocking work, in a thread.
        return BuiltinJobs(
            engine,
            event_retention=config.event_retention,
            subscriber_max_lag=config.watch.max_lag,
            limits=config.limits.jobs,
            journal=store,
            event_max_age=config.state.event_max_age,
        )

    manager = await asyncio.to_thread(build)
    if store is not None:
        records = await asyncio.to_thread(store.load_jobs)
        try:
            remove = (
                functools.partial(remove_restored, engine.data_dir)
                if isinstance(engine, BuiltinEngine)
                else None
            )
            await manager.restore(records, remove_files=remove)
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(
                f"the state store {store.path} holds a job record this server cannot read "
                f"({exc!r}); move the store away or run the server that wrote it"
            ) from exc
    return manager


LOOPBACK_HOSTS = frozenset({"localhost", "[::1]"})


def exposure_warning(config: ServerConfig) -> str | None:
    """What is unsafe about serving ``config`` on a non-loopback TCP address, if anything."""
    missing = []
    if config.tls is None:
        missing.append("without TLS (calls and bearer tokens travel in plaintext)")
    if config.policy is None:
        missing.append("without an authorisation policy (every client may do everything)")
    exposed = [
        address
        for address in config.listen
        if (parts := split_address(address)) is not None
        and parts[0] not in LOOPBACK_HOSTS
        and not parts[0].startswith("127.")
    ]
    if not missing or not exposed:
        return None
    return (
        f"listening on {', '.join(exposed)} {' and '.join(missing)}; see --tls-cert, "
        "--tls-client-ca and --policy, or listen on 127.0.0.1"
    )


def warn_if_exposed(config: ServerConfig) -> None:
    """Warn (log and stderr) for a non-loopback address served without TLS or a policy."""
    text = exposure_warning(config)
    if text is not None:
        logger.warning(text)
        print(f"warning: {text}", file=sys.stderr, flush=True)

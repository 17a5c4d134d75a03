"""The gRPC server: one start order and one stop order.

Start: (database, migrations) -> app: pool, use cases -> servicers, health, reflection -> listen.
Stop (SIGTERM/SIGINT): health NOT_SERVING -> stop accepting -> in-flight RPCs finish within the
grace period -> close the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from service.api.interceptors import ErrorsInterceptor, RequestsInterceptor, TracingInterceptor
from service.api.reflection import DocumentedReflectionServicer
from service.api.servicer import ITEMWISE_METHODS, EmailStoreServicer, UseCases
from service.app import App, database, migrate
from service.config import Config
from service.core.reindex import SearchBackfill
from service.store.feed import FeedListener

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["EmailStore"].full_name
_HEALTH_SERVICES = ("", SERVICE_NAME)
# Answers SERVING for as long as the process serves at all, whatever the database does: the
# name for a liveness probe (restarting a replica cannot fix a database outage).
LIVENESS_SERVICE = "liveness"
# The database is probed at most this often, however many calls fail to reach it.
_MIN_PROBE_GAP_S = 0.05
# Policies changed through another server are noticed this often.
_RETENTION_CHECK_S = 60.0


def _reflection_v1_handler(servicer: DocumentedReflectionServicer) -> grpc.GenericRpcHandler:
    # grpcio-reflection implements v1alpha only; v1 is the same protocol under a new package
    # name, byte for byte, so the same servicer answers both (newer grpcurl asks for v1 first).
    return grpc.method_handlers_generic_handler(
        "grpc.reflection.v1.ServerReflection",
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )


async def _every(interval_s: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    """Runs a background job every interval_s, for as long as the server runs; a failed pass
    is logged, and the next one tries again (the database may just be down)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except Exception:
            log.warning("%s pass failed", what, exc_info=True)


class EmailStoreServer:
    """The service on one database URL: the app, the gRPC server, the health watcher."""

    def __init__(self, config: Config, database_url: str) -> None:
        self.config = config
        self.database_url = database_url
        self.app = App(config, database_url)
        self.db = self.app.db
        self.health = HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self._health_task: asyncio.Task[None] | None = None
        self._gc_task: asyncio.Task[None] | None = None
        self._dict_task: asyncio.Task[None] | None = None
        self._feed_tasks: list[asyncio.Task[None]] = []
        self._listener = FeedListener(self.db.conninfo, self.app.feed.wakeup.fire)
        self._serving = False

    async def start(self) -> None:
        """Opens the pool, registers the services and starts listening."""
        await self.app.open()
        limit = self.config.max_grpc_message_bytes
        server = grpc.aio.server(
            interceptors=[
                TracingInterceptor(),
                ErrorsInterceptor(),
                RequestsInterceptor(ITEMWISE_METHODS),
            ],
            options=[
                ("grpc.max_receive_message_length", limit),
                # Responses stream large content in chunks; a FULL message may still be big.
                ("grpc.max_send_message_length", max(limit, 64 * 1024 * 1024)),
                ("grpc.so_reuseport", 0),
            ],
        )
        cases = UseCases(
            messages=self.app.messages,
            ingest=self.app.ingest,
            uploads=self.app.uploads,
            downloads=self.app.downloads,
            events=self.app.events,
            analytics=self.app.analytics,
            search=self.app.search,
            feed=self.app.feed,
            export=self.app.export,
            governance=self.app.governance,
        )
        pb_grpc.add_EmailStoreServicer_to_server(
            EmailStoreServicer(cases, self.config.max_message_bytes), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection_names = (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
            "grpc.reflection.v1.ServerReflection",
        )
        reflection_servicer = DocumentedReflectionServicer(reflection_names)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflection_servicer, server)
        server.add_generic_rpc_handlers((_reflection_v1_handler(reflection_servicer),))
        self.port = server.add_insecure_port(self.config.listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.listen}")
        await server.start()
        self.server = server
        await self.health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        await self._set_serving(True)
        self._health_task = asyncio.create_task(self._watch_database(), name="health-watcher")
        if self.config.gc_interval_s > 0:
            self._gc_task = asyncio.create_task(self._collect_garbage(), name="blob-collector")
        if self.config.dict_training and self.config.dict_check_interval_s > 0:
            self._dict_task = asyncio.create_task(
                self._check_dictionaries(), name="dictionary-trainer"
            )
        self._feed_tasks = [
            asyncio.create_task(self.app.feed.run_sequencer(), name="change-sequencer"),
            asyncio.create_task(self.app.feed.run_pruner(), name="change-pruner"),
            asyncio.create_task(self._backfill_search(), name="search-backfill"),
            asyncio.create_task(self._apply_retention(), name="retention-applier"),
        ]
        if self.config.purge_interval_s > 0:
            self._feed_tasks.append(asyncio.create_task(self._purge(), name="purger"))
        self._listener.start()

    async def _set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in _HEALTH_SERVICES:
            await self.health.set(name, status)
        if serving != self._serving:
            log.log(
                logging.INFO if serving else logging.WARNING,
                "database %s: health %s",
                "reachable" if serving else "unreachable",
                "SERVING" if serving else "NOT_SERVING",
                extra={"event": "health"},
            )
        self._serving = serving

    async def _watch_database(self) -> None:
        interval = self.config.health_interval_s
        while True:
            # Every interval; at once when a call has just failed to reach the database (so
            # that calls fail fast from then on); and at least twice a second while it is
            # down, so that service resumes soon after it is back.
            await self.db.wait_for_suspicion(interval if self._serving else min(interval, 0.5))
            ok = await self.db.ping(timeout_s=max(1.0, interval))
            if ok and not self._serving:
                # Connections in the pool died with the server: replace them before serving.
                await self.db.refresh_pool()
            self.db.set_reachable(ok)
            await self._set_serving(ok)
            await asyncio.sleep(_MIN_PROBE_GAP_S)

    async def _collect_garbage(self) -> None:
        await _every(self.config.gc_interval_s, self.app.gc.collect, "garbage collection")

    async def _apply_retention(self) -> None:
        """Brings older messages to changed retention policies: at start, at once after a
        change (in this server), and every minute (a change made through another)."""
        changed = self.app.governance.policy_changed
        while True:
            changed.clear()
            wait_s = _RETENTION_CHECK_S
            try:
                await self.app.governance.apply_all()
            except Exception:  # tried again soon; the database may just be down
                log.warning("retention application failed", exc_info=True)
                wait_s = 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=wait_s)

    async def _purge(self) -> None:
        await _every(self.config.purge_interval_s, self.app.governance.purge_all, "purge")

    async def _backfill_search(self) -> None:
        """Once after start: search vectors for messages stored before search existed."""
        try:
            results = await SearchBackfill(self.db, self.app.messages).all_tenants()
        except Exception:  # `emailstore reindex` finishes the job; the next start tries again
            log.warning("search backfill failed", exc_info=True)
            return
        indexed = sum(r.indexed for r in results)
        if indexed:
            log.info("search backfill: %d message(s) indexed", indexed)

    async def _check_dictionaries(self) -> None:
        await _every(
            self.config.dict_check_interval_s,
            self.app.dictionaries.maintain_all,
            "dictionary maintenance",
        )

    async def wait(self) -> None:
        """Returns when the gRPC server has stopped."""
        if self.server is not None:
            await self.server.wait_for_termination()

    async def stop(self, grace_s: float | None = None) -> None:
        """Stops in order: NOT_SERVING, stop accepting, drain in-flight RPCs, close the pool."""
        grace = self.config.shutdown_grace_s if grace_s is None else grace_s
        self.app.feed.close()  # watchers end with UNAVAILABLE, to resume elsewhere
        for task in (self._health_task, self._gc_task, self._dict_task, *self._feed_tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._listener.stop()
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(grace)
        await self.app.close()


async def serve(config: Config) -> None:
    """Runs the service until SIGTERM or SIGINT, starting the embedded database if needed."""
    async with database(config) as target:
        if config.migrate_on_start:
            await migrate(target)
        server = EmailStoreServer(config, target.url)
        await server.start()
        listening = (
            config.listen if server.port == _port_of(config.listen) else f"port {server.port}"
        )
        log.info(
            "EmailStore listening on %s (database: %s)",
            listening,
            target.description,
            extra={"listen": config.listen, "database": target.description},
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down (grace %.1fs)", config.shutdown_grace_s)
        await server.stop()
    log.info("stopped")


def _port_of(listen: str) -> int:
    try:
        return int(listen.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return -1

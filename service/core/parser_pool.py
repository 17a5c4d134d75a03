"""Worker processes that parse raw messages, each parse under a time limit."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from service.codec.ingest import ParsedRaw, parse_raw, unparsed
from service.codec.mime import MimeLimits

log = logging.getLogger(__name__)


class ParserPool:
    """Parses raw messages in worker processes, so hostile input cannot stall the server.

    A message that takes too long is stored unparsed, and the workers are replaced (a process
    cannot be interrupted otherwise); parses caught in that replacement are retried once.
    """

    def __init__(self, workers: int, timeout_s: float, limits: MimeLimits) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self.limits = limits
        # spawn, not fork: the server process runs gRPC threads that must not be forked.
        self._context = multiprocessing.get_context("spawn")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context)

    async def parse(self, raw: bytes) -> ParsedRaw:
        """The parsed message, or the message kept whole with the reason it was not parsed."""
        loop = asyncio.get_running_loop()
        for _ in range(2):
            pool = self._pool
            try:
                future = loop.run_in_executor(pool, parse_raw, raw, self.limits)
                return await asyncio.wait_for(future, self.timeout_s)
            except TimeoutError:
                log.warning("parsing a %d-byte message passed %.1fs", len(raw), self.timeout_s)
                self._replace(pool)
                return unparsed(raw, f"parse time limit of {self.timeout_s:g}s passed")
            except BrokenProcessPool:
                self._replace(pool)
        return unparsed(raw, "parser worker crashed")

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        if pool is not self._pool:
            return  # someone replaced it already
        self._pool = self._new_pool()
        # The private process table is the only handle on a worker stuck in a parse.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stops the workers."""
        self._pool.shutdown(wait=False, cancel_futures=True)

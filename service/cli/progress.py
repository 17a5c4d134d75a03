"""Progress of an export or import: messages, bytes, rate and ETA, as a tqdm bar on a terminal
and as plain lines otherwise (logs and pipes get a line every few seconds, not a bar)."""

from __future__ import annotations

import time
from typing import Never, TextIO

from tqdm import tqdm


def size(n: float) -> str:
    """Bytes for people: 1.5MiB."""
    return tqdm.format_sizeof(n, "B", 1024)


class Progress:
    """Counts of messages and bytes done, shown as they change.

    With total_bytes the bar counts bytes (an import: the source's size is known); otherwise
    it counts messages, against total_messages when known (an export).
    """

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        terminal: bool,
        interval_s: float,
        total_bytes: int | None = None,
        total_messages: int | None = None,
    ) -> None:
        self.label = label
        self.stream = stream
        self.interval_s = interval_s
        self.total_bytes = total_bytes
        self.total_messages = total_messages
        self.messages = 0
        self.bytes = 0
        self.note = ""
        self.started = time.monotonic()
        self._last_line = self.started
        self._printed: tuple[int, int] | None = None
        self._bar: tqdm[Never] | None = None
        if terminal:
            by_bytes = total_bytes is not None
            self._bar = tqdm(
                desc=label,
                total=total_bytes if by_bytes else total_messages,
                unit="B" if by_bytes else "msg",
                unit_scale=by_bytes,
                unit_divisor=1024 if by_bytes else 1000,
                file=stream,
                dynamic_ncols=True,
                smoothing=0.1,
            )

    def set_total_messages(self, total: int | None) -> None:
        """The number of messages, once known."""
        self.total_messages = total
        if self._bar is not None and self.total_bytes is None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, messages: int, nbytes: int, note: str = "") -> None:
        """The counts so far (not increments), and a few words on the rest (failures)."""
        grown_bytes, grown_messages = nbytes - self.bytes, messages - self.messages
        self.messages, self.bytes, self.note = messages, nbytes, note
        if self._bar is not None:
            if self.total_bytes is not None:
                extra = f"{messages:,} msg"
                self._bar.update(grown_bytes)
            else:
                extra = size(nbytes)
                self._bar.update(grown_messages)
            self._bar.set_postfix_str(f"{extra}{', ' + note if note else ''}", refresh=False)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval_s:
            self._last_line = now
            self._line(now)

    def close(self) -> None:
        """Stops the bar, or prints the last line (unless the last printed says it all)."""
        if self._bar is not None:
            self._bar.close()
        elif self._printed != (self.messages, self.bytes):
            self._line(time.monotonic())

    def _line(self, now: float) -> None:
        self._printed = (self.messages, self.bytes)
        elapsed = max(now - self.started, 1e-9)
        messages = f"{self.messages:,}"
        if self.total_messages is not None:
            messages += f"/{self.total_messages:,}"
        data = size(self.bytes)
        if self.total_bytes is not None:
            data += f" of {size(self.total_bytes)}"
        parts = [
            f"{messages} messages",
            data,
            f"{size(self.bytes / elapsed)}/s",
            f"{self.messages / elapsed:,.1f} msg/s",
        ]
        eta = self._eta(elapsed)
        if eta is not None:
            parts.append(f"ETA {tqdm.format_interval(eta)}")
        if self.note:
            parts.append(self.note)
        print(f"{self.label}: {', '.join(parts)}", file=self.stream, flush=True)

    def _eta(self, elapsed: float) -> float | None:
        """Seconds left at the rate so far, when there is a total to reach."""
        if self.total_bytes and self.bytes:
            return max(self.total_bytes - self.bytes, 0) * elapsed / self.bytes
        if self.total_messages and self.messages:
            return max(self.total_messages - self.messages, 0) * elapsed / self.messages
        return None

"""Where `emailstore import` reads messages from: an mbox file, a maildir, a folder of `.eml`
files, or one message file; one message at a time, each as its exact bytes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from service.codec import mbox

# How much of an mbox is read at a time.
READ_SIZE = 1024 * 1024


class SourceError(Exception):
    """The source cannot be read at all (missing, not a file or folder)."""


@dataclass(frozen=True)
class SourceMessage:
    """One message of a source: its bytes, or why they could not be had.

    name: where it is, for the summary (a path, or `path#N` for the Nth entry of an mbox).
    weight: the bytes of the source it accounts for (for progress).
    """

    name: str
    raw: bytes | None
    weight: int
    error: str = ""


@dataclass(frozen=True)
class Source:
    """A source opened: what it is, its size, and its messages (read as iterated)."""

    kind: str  # "mbox" | "maildir" | "eml" | "file"
    total_bytes: int
    total_messages: int | None  # None for an mbox: known only once read
    messages: Iterator[SourceMessage]


def open_source(path: Path, max_message_bytes: int) -> Source:
    """The source at `path`: a folder with cur/ and new/ is a maildir, another folder holds
    `.eml` files (searched recursively), a file starting with `From ` is an mbox (so is an
    empty file), and any other file is one message."""
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            files = [
                f
                for sub in ("new", "cur")
                for f in sorted((path / sub).iterdir())
                if f.is_file() and not f.name.startswith(".")
            ]
            kind = "maildir"
        else:
            files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() == ".eml")
            kind = "eml"
        sizes = [f.stat().st_size for f in files]
        return Source(kind, sum(sizes), len(files), _files(files, sizes, max_message_bytes))
    if not path.is_file():
        raise SourceError(f"{path}: no such file or folder")
    size = path.stat().st_size
    if size == 0:  # what an export of nothing writes
        return Source("mbox", 0, 0, iter(()))
    with path.open("rb") as f:
        start = f.read(len(mbox.FROM))
    if start == mbox.FROM:
        return Source("mbox", size, None, _mbox(path, max_message_bytes))
    return Source("file", size, 1, _files([path], [size], max_message_bytes))


def _too_big(size: int, limit: int) -> str:
    return f"{size:,} bytes, over the limit of {limit:,} (--max-message-bytes)"


def _files(files: list[Path], sizes: list[int], limit: int) -> Iterator[SourceMessage]:
    for path, size in zip(files, sizes, strict=True):
        name = str(path)
        if size > limit:
            yield SourceMessage(name, None, size, _too_big(size, limit))
            continue
        try:
            raw = path.read_bytes()
        except OSError as exc:
            yield SourceMessage(name, None, size, f"cannot read: {os.strerror(exc.errno or 0)}")
            continue
        yield SourceMessage(name, raw, size)


def _mbox(path: Path, limit: int) -> Iterator[SourceMessage]:
    """The entries of an mbox, unquoted, one at a time: memory holds one message (or, for
    one over the limit, nothing of it)."""
    reader = mbox.Reader()
    number = 0
    body: list[bytes] = []
    size = 0
    from_bytes = 0

    def complete(events: list[mbox.MboxEvent]) -> Iterator[SourceMessage]:
        nonlocal number, size, from_bytes
        for event in events:
            if isinstance(event, mbox.MessageStart):
                number += 1
                body.clear()
                size = 0
                from_bytes = len(event.from_line) + 1
            elif isinstance(event, mbox.MessageEnd):
                name = f"{path}#{number}"
                weight = from_bytes + size + len(mbox.END_OF_ENTRY)
                if size > limit:
                    yield SourceMessage(name, None, weight, _too_big(size, limit))
                else:
                    yield SourceMessage(name, b"".join(body), weight)
                body.clear()
            else:
                size += len(event)
                if size <= limit:
                    body.append(event)
                else:
                    body.clear()

    with path.open("rb") as f:
        while data := f.read(READ_SIZE):
            yield from complete(reader.feed(data))
    yield from complete(reader.finish())

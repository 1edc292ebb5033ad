"""Fetching Leap's next page while the current one is written."""

from __future__ import annotations

import enum
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")


class _Done(enum.Enum):
    """The marker the producer queues after the last page (with the source's error, if any)."""

    DONE = enum.auto()


_DONE = _Done.DONE


def prefetched(pages: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Iterate `pages` in a background thread, keeping up to `depth` pages ready.

    A page spends most of its time in the database; meanwhile the next one is downloaded and
    decoded. Errors from the source surface here, in order; leaving the loop early stops the
    thread at its next page.
    """
    ready: queue.Queue[tuple[T | _Done, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: tuple[T | _Done, BaseException | None]) -> bool:
        """Queue an item unless the consumer has gone; never block past its departure."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not hand_over((page, None)):
                    return
            hand_over((_DONE, None))
        except BaseException as error:  # noqa: BLE001  (handed to the consumer, who re-raises it)
            hand_over((_DONE, error))

    worker = threading.Thread(target=produce, name="leap-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            page, error = ready.get()
            if page is _DONE:
                if error is not None:
                    raise error
                return
            yield page
    finally:
        stop.set()
        worker.join(timeout=5)

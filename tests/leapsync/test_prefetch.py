"""Fetching the next page in the background: order, errors, early exit."""

from __future__ import annotations

import threading
import time

import pytest

from leapsync.sync.prefetch import prefetched


def test_prefetched_yields_every_page_in_order():
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))


def test_prefetched_raises_the_sources_error_after_the_pages_before_it():
    def pages():
        yield 1
        yield 2
        raise ConnectionError("Leap went away")

    iterator = prefetched(pages())
    assert [next(iterator), next(iterator)] == [1, 2]
    with pytest.raises(ConnectionError, match="went away"):
        next(iterator)


def test_prefetched_stops_its_thread_when_the_loop_ends_early():
    produced = []

    def pages():
        for number in range(1000):
            produced.append(number)
            yield number

    before = set(threading.enumerate())
    iterator = prefetched(pages(), depth=2)
    assert next(iterator) == 0
    iterator.close()
    started = [t for t in threading.enumerate() if t not in before]
    assert not any(t.name == "leap-prefetch" and t.is_alive() for t in started)
    assert len(produced) < 10


def test_prefetched_thread_ends_when_the_consumer_stops_after_the_last_page():
    """The producer finished and waits to hand over its end marker: it must not hang there."""
    before = set(threading.enumerate())
    iterator = prefetched(iter([1, 2]), depth=1)
    assert next(iterator) == 1
    time.sleep(0.3)  # the producer now holds page 2 and the end marker, the queue is full
    iterator.close()
    started = [t for t in threading.enumerate() if t not in before]
    assert not any(t.name == "leap-prefetch" and t.is_alive() for t in started)

"""Rendered JSON per meter: plain bytes up to a byte budget, zlib-packed beyond it.

A million meters render to about 3.6 GB of JSON, too much to hold plainly; packed with a shared
dictionary (a sample of the first renderings) an entry shrinks five- to ninefold and unpacks in a
few microseconds. Below the budget (100,000 meters fit) serving costs what plain bytes cost.
"""

from __future__ import annotations

import zlib

RAW_BUDGET = 256 * 2**20  # plain bytes kept per cache (one per search endpoint)
_SAMPLE = 16 * 2**10  # the shared dictionary: the first renderings, up to 16 KiB
_LEVEL = 6
_WBITS = -15  # raw deflate: no header or checksum per entry


class JsonCache:
    """Bytes by meter sequence number; `get` returns None for an entry never put or dropped."""

    def __init__(self, raw_budget: int = RAW_BUDGET) -> None:
        self._items: list[bytes | None] = []
        self._packed = bytearray()
        self._budget = raw_budget
        self._raw = 0
        self._sample = bytearray()
        self._deflate: zlib._Compress | None = None
        self._inflate: zlib._Decompress | None = None

    def grow(self, size: int) -> None:
        """Make room for sequence numbers below `size`."""
        extra = size - len(self._items)
        if extra > 0:
            self._items.extend([None] * extra)
            self._packed.extend(bytes(extra))

    def get(self, seq: int) -> bytes | None:
        """The entry for `seq`, or None."""
        item = self._items[seq]
        if item is None or not self._packed[seq]:
            return item
        assert self._inflate is not None
        return self._inflate.copy().decompress(item)

    def has(self, seq: int) -> bool:
        """True when an entry for `seq` is held (without unpacking it)."""
        return self._items[seq] is not None

    def put(self, seq: int, data: bytes) -> None:
        """Store `data` for `seq`: plainly while within the budget, packed beyond it."""
        self.drop(seq)
        if len(self._sample) < _SAMPLE:
            self._sample += data[: _SAMPLE - len(self._sample)]
        if self._raw + len(data) <= self._budget:
            self._items[seq] = data
            self._raw += len(data)
            return
        if self._deflate is None:
            zdict = bytes(self._sample)
            self._deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, 8, 0, zdict)
            self._inflate = zlib.decompressobj(_WBITS, zdict)
        packer = self._deflate.copy()
        self._items[seq] = packer.compress(data) + packer.flush()
        self._packed[seq] = 1

    def drop(self, seq: int) -> None:
        """Forget the entry for `seq`."""
        item = self._items[seq]
        if item is None:
            return
        if self._packed[seq]:
            self._packed[seq] = 0
        else:
            self._raw -= len(item)
        self._items[seq] = None

    def clear(self) -> None:
        """Forget every entry (the shared dictionary stays)."""
        size = len(self._items)
        self._items = [None] * size
        self._packed = bytearray(size)
        self._raw = 0

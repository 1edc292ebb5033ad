"""The in-process Leap simulator fixtures, for tests that fill the database through the sync."""

from tests.leapsync.conftest import leap, simulator  # noqa: F401

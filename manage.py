#!/usr/bin/env python
"""Django's command-line utility for leapsync."""

import os
import sys

# Commands that serve no page of leapsync and read no data of it: in a fresh shell they may run
# on development defaults (leapsync/settings.py decides, and never when a production setting
# is in play).
DEVELOPMENT_TOOLS = {"leap_simulator"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapsync.settings")
    if sys.argv[1:2] and sys.argv[1] in DEVELOPMENT_TOOLS:
        os.environ["LEAPSYNC_DEVELOPMENT_TOOL"] = sys.argv[1]
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

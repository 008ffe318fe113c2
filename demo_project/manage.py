#!/usr/bin/env python
"""Django's command-line utility for the flagschema demo project."""

import importlib.util
import os
import sys
from pathlib import Path


def main() -> None:
    if importlib.util.find_spec("flagschema") is None:
        # A plain checkout, without `pip install -e .`: use the flagschema next to this project.
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

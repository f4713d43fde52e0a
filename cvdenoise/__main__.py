"""``python -m cvdenoise`` → the command line."""

from .cli import main

raise SystemExit(main())

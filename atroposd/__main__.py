"""``python -m atroposd``."""

from atroposd.cli import main

raise SystemExit(main())

"""python -m cleanroom.cli: the same as the `cleanroom` command."""

from cleanroom.cli.main import main

raise SystemExit(main())

"""``python -m vadbench``: the command line, as the ``vadbench`` script runs it."""

from vadbench.commands import main

raise SystemExit(main())

"""`python -m bot.cli`: the `permanence` command."""

from bot.cli import main

raise SystemExit(main())

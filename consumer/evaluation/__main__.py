"""``python -m consumer.evaluation DATA_DIR --out DIR ...``: the ``evaluate`` subcommand on its own."""

from consumer.evaluation.command import main

raise SystemExit(main())

"""``python -m consumer.kcl``: the executable the MultiLangDaemon runs for each shard."""

import sys

from consumer.kcl.main import main

sys.exit(main())

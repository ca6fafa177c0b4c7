"""``python -m vlmkit.book``: run the whole book on this machine's device (:func:`vlmkit.book.runner.main`); the exit
status is 1 when a notebook failed (or none ran), so ``make book`` and CI see it."""

import sys

from vlmkit.book.runner import main

sys.exit(main())

"""``python -m vlmkit.book``: run the whole book on this machine's device (:func:`vlmkit.book.runner.main`)."""

from vlmkit.book.runner import main

main()

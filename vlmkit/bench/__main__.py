"""``python -m vlmkit.bench decode [options]``: the decode benchmark (:mod:`vlmkit.bench.decode_bench`).

Taught in ``notebooks/10_int4_decode.ipynb``.
"""

import sys

from vlmkit.bench.decode_bench import main

COMMANDS = {"decode": main}

if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
    sys.exit(f"usage: python -m vlmkit.bench {{{','.join(COMMANDS)}}} [options]  (--help after a command for its "
             "options)")
COMMANDS[sys.argv[1]](sys.argv[2:])

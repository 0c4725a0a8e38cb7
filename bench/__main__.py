"""``python -m bench``: see bench/run.py for the options.

Nothing here (or in bench/__init__.py) imports NumPy: ``bench.run.main``
must set the BLAS/OpenMP thread variables before NumPy is loaded.
"""

import sys

from bench.run import main

sys.exit(main())

"""Benchmark harness for minigrad.

Run with ``python -m bench`` (see ``bench/run.py`` for the options).

This package's ``__init__`` deliberately imports nothing heavy (in
particular not NumPy): ``python -m bench --threads N`` must be able to set
the BLAS/OpenMP thread environment variables before NumPy is first
imported, because the BLAS library reads them only once, when it loads.
"""

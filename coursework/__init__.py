"""coursework: a tool over the minigrad source tree (not part of the library) that turns it
into exercises its own test suite grades.  Run it from a clone: python -m coursework --help."""

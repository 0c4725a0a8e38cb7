"""Numbered demo scripts that follow the lecture notes; `python -m demos` runs them all."""

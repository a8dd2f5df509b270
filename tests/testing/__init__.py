"""Tests of :mod:`routet2i.testing` (the tiny models built in code)."""

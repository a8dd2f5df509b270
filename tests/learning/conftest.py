"""The learning tests use the quality tests' tiny CLIP models (built once per session)."""

from tests.quality.conftest import tiny_clip  # noqa: F401  (a fixture)

"""Tiny models built in code (random weights, real architectures) for offline CPU tests.

Each builder saves with ``save_pretrained`` (or the library's own format) into a folder, so the
product loads it through the same call it uses for a hub id such as ``stabilityai/sd-turbo``.
"""

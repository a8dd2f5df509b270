"""Tiny real-architecture models built in code, with random weights, for tests, benchmarks and
demos; nothing here is imported by the product's serving path.

Each builder saves with ``save_pretrained`` (or the library's own format) into a folder, so the
product loads it through the same call it uses for a hub id such as ``stabilityai/sd-turbo``.

- :mod:`routet2i.testing.pipelines`: tiny SD 1.x / SDXL / SD3 pipelines (random weights).
- :mod:`routet2i.testing.text_encoders`: a tiny BERT, a tiny CLIP text model, a tiny open_clip.
- :mod:`routet2i.testing.clip`: a tiny CLIP for the quality scorer (open_clip and transformers).
- :mod:`routet2i.testing.clip_tokenizer`: OpenAI CLIP's BPE tokenizer, built offline.
- :mod:`routet2i.testing.tiny_router`: an untrained, calibrated router checkpoint on a tiny BERT.

This package module stays light: torch, diffusers and transformers are imported inside the
builders, only when one is called.
"""

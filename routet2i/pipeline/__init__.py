"""The offline data pipeline: prompts → images from both tiers → a manifest for ``routet2i score``.

``routet2i generate-pairs`` (:mod:`routet2i.pipeline.command`) reads a prompt file
(:mod:`~routet2i.prompts`), plans one item per (tier, prompt, seed)
(:mod:`~routet2i.pipeline.plan`), talks to each tier through the worker client, over HTTP or
in-process (:mod:`~routet2i.pipeline.tiers`), and keeps the output folder crash-safe and resumable
(:mod:`~routet2i.pipeline.store`); :mod:`~routet2i.pipeline.run` drives it all. Nothing heavy is
imported here.
"""

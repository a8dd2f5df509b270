"""Text encoders: prompts → token states (batch, tokens, d), attention mask, pooled vector.

One interface (:class:`~routet2i.encoders.base.TextEncoder`), three implementations chosen by a
spec string (:mod:`routet2i.encoders.spec`): ``minilm`` (the offline default), ``hf:<repo or
dir>[#subfolder]`` and ``open_clip:<model>/<pretrained>``. Load one with
:func:`routet2i.encoders.loading.load_encoder`. Importing this package loads nothing heavy.
"""

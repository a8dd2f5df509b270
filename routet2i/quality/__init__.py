"""CLIP multi-metric image quality scoring (offline; the gateway never imports this package).

- :mod:`~routet2i.quality.metrics`: the metric set (text pairs, weights), ``configs/metrics.yaml``;
- :mod:`~routet2i.quality.formula`: q = sigmoid(s * (cos(img, m+) - cos(img, m-))), alignment;
- :mod:`~routet2i.quality.backend`: the CLIP backend interface; open_clip and transformers
  implementations in :mod:`~routet2i.quality.open_clip_backend` and
  :mod:`~routet2i.quality.transformers_backend`;
- :mod:`~routet2i.quality.scorer`: the batched scorer with its cached metric-text features;
- :mod:`~routet2i.quality.folder`: a plain folder of images as manifest entries (the manifest
  format itself is the pipeline's, :mod:`routet2i.pipeline.manifest`);
- :mod:`~routet2i.quality.score_run`: manifest entries → ratings-table rows;
- :mod:`~routet2i.quality.command`: ``routet2i score``.

Importing the package loads nothing heavy.
"""

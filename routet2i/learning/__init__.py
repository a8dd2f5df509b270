"""Learning the deployment's own pair: fitting on top of the live router (``correction.py``),
the promotion rule (``promotion.py``), the learner's schedule and state (``learner.py``), and
``routet2i replay`` (``replay.py``), which runs the learner over a rated table as if it were live
traffic, to measure learning before anyone deploys it (docs/LEARNING.md)."""

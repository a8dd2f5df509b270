"""Routing evaluation: quality-vs-cloud-share curves, PGR / APGR, baselines, protocols, reports.

``routet2i evaluate`` (:mod:`routet2i.evaluation.command`) drives it; the pieces are
:mod:`.curves` (the metrics), :mod:`.views` (which quality a curve shows), :mod:`.protocols`
(k-fold by prompt hash, leave-one-dataset-out), :mod:`.baselines`, :mod:`.learned` and
:mod:`.predictor_candidates` (the routers compared), :mod:`.harness` (the run), :mod:`.report`
and :mod:`.plot` (the outputs). Importing this package loads nothing heavy.
"""

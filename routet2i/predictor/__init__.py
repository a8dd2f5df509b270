"""The key-token predictor: model, prompt cues, checkpoint format, calibration, training, and
checkpoint inference (``inference.CheckpointPredictor``, the routing core's predictor port)."""

"""The ratings table (per prompt, model and metric scores), importers of rated datasets, and
pair building (edge vs cloud quality vectors → D / PRS targets)."""

"""The in-container trainer: data, preparation, training, tuning, evaluation, artifacts."""

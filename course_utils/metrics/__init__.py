"""Metrics: functions from tensors to numbers (geometry of features, dictionary quality)."""

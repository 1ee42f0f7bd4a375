"""Support package for the superposition and sparse dictionary learning course."""

__version__ = "0.1.0"

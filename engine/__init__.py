"""ModeScope engine: datasets, methods, metrics, trainer, tracking and jobs (no UI imports)."""

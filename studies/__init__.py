"""Optuna studies over ModeScope runs: search spaces from config metadata, presets, workers (DESIGN.md 8)."""

"""The per-stream pipeline: stages, the runner, and the chain built from config."""

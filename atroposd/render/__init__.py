"""Rendering (layer 1): layouts as ffmpeg filter graphs, the async ffmpeg runner, the probe."""

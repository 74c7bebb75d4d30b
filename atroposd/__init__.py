"""atroposd: watch folders of short clips and post them to six platforms, exactly once."""

__version__ = "0.1.0"

"""Watching folders for video + caption pairs and deciding when they are ready.

``ClipWatcher`` (watcher.py) is the façade; ``pairing`` (debounce + pairing) and ``roots``
(account rules) are pure; ``mp4`` checks a movie file is complete; ``observer`` wraps
watchdog; ``scan`` reads directories.
"""

from atroposd.watch.mp4 import mp4_problem
from atroposd.watch.watcher import ClipWatcher

__all__ = ["ClipWatcher", "mp4_problem"]

"""From a ready clip to published posts: intake, publisher, retry policy, reconcile, archive."""

"""Posting schedules: the ``schedule`` blocks of upload_config.json and the slot arithmetic.

Layer 1: pure data and time arithmetic (no ledger, no APScheduler runtime); the scheduler
(pipeline) and the inventory forecast both read slot instants from here, so they agree.
"""

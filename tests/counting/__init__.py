"""Counts under concurrency, through real server processes."""

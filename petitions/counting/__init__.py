"""Counting: what counts, the counters kept in step with the rows, recount."""

"""Abuse signals, rate limits, invalidation."""

"""Reliability when processes die and servers go away."""

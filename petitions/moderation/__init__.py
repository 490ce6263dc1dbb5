"""Moderation: reviewing petitions, invalidating signatures, abuse signals, blocks, the audit log."""

"""Signing, confirming, withdrawing; mailbox keys."""

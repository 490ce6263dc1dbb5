"""Signatures: signing, confirming, withdrawing; mailbox keys; a signer's data; retention."""

"""Accounts of campaigners and administrators: registration, passwords, email changes, deletion."""

"""Infrastructure the domain stands on: the database, the mail outbox, live counts, caches, tokens."""

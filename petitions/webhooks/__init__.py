"""Webhooks for newsrooms and campaign tools, following the Standard Webhooks convention.

- endpoints: registering an endpoint (a petition's, or an admin's for every petition), its
  secret, and which URLs are allowed (http(s), public addresses only);
- events: the event types and their payloads; emit() writes an event once, with a delivery for
  each endpoint that wants it, in the caller's transaction;
- delivery: the worker's side: claim due deliveries, sign and POST them, retry with backoff,
  disable an endpoint that keeps failing and tell its owner.

Nothing is ever sent from a request: a request only writes rows.
"""

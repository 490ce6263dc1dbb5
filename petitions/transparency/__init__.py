"""The public log of each petition, wired into the site: what the pure core (infra/tlog) is fed and serves.

- `keys`: the key that signs the checkpoints (LOG_SIGNING_KEY; made once in development);
- `removals`: the remove entries owed for signature rows deleted while their add was live;
- `sequencer`: appending what changed to each log and signing its checkpoint (run by the worker);
- `reading`: what the log's URLs serve (checkpoint, tiles, entry bundles) and the JSON's summary;
- `receipts`: the email that tells a signer which entry is theirs, with their nonce;
- `audit`: replaying a log from the database against the signature rows (`flask recount`).

Which signatures the log counts is the count rule itself (counting/rules.py): a row whose
counting differs from `log_live` is out of sync, and the sequencer appends the entries that
bring the log in line, however the row came to differ.
"""

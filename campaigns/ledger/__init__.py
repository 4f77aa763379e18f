"""The contact ledger: append-only, hash-chained, and the contact-time guard on top of it.

``chain``: appending rows under one lock and verifying the hash chain.
``history``: ledger rows (plus consent state) as ``compliance.Event`` histories.
``guard``: check-and-reserve, atomically, before any PBX or provider is called.
``interchange``: the JSON-lines format other systems exchange histories in.
``checkpoint``, ``attest``, ``signing``, ``checkpoint_store``: signed checkpoints
of the chain, kept outside the database, and verifying the ledger against them.
"""

"""Money in: payments from the bank's file or signed API, and promises kept or broken.

``file``: the payments file, validated (``file:line: field: message``).
``record``: payments into the accounts and the ledger, all or nothing, once per reference.
``promises``: settling promises against payments (kept, partly kept, broken).
``signature``: the signed payments API's HMAC check.
"""

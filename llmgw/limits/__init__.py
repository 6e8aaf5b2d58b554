"""Spend and rate control: per-tenant RPM/TPM, concurrency and money budgets.

``model`` is the contract (records and the ``LimitStore`` protocol); ``gcra`` and ``periods``
are the pure arithmetic; ``chain`` turns settings into the limits of a tenant chain;
``reserve`` prices the worst case of a call; ``alerts`` decides when a budget crossed a
threshold; ``local`` is the in-process store.
"""

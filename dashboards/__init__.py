"""Stats API for marketers (Plausible Stats API v2 shape), k-anonymity applied.

query.py parses and validates (pure) · plan.py turns a query into SQL, rollup or raw (pure) ·
results.py merges, suppresses, orders and paginates (pure) · stats.py runs it on ClickHouse ·
api.py is the Flask blueprint serving POST /api/v2/query.
"""

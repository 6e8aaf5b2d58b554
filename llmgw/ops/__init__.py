"""Operator surfaces: the admin API, live state, metrics and budget alerting."""

"""Routing: resilience primitives (circuit breakers, retry backoff, retry budget) and policy."""

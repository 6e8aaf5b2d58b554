"""Replay, shadow traffic, runs and diff: above the gateway, using its attempt loop."""

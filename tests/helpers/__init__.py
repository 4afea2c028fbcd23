"""Builders and harnesses shared by test modules (never imported from a test_*.py)."""

"""Checks of a deployment: the doctor and the plan file's check."""

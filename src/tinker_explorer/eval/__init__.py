"""Evaluation: the one metrics module and the episode runner."""

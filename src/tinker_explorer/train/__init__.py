"""Training: shared GRPO pieces (advantages, run records) and the SFT / GRPO loops."""

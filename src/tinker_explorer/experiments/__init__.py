"""Experiments: the offline demo (main job) and the `leaves` ablation harness."""

"""`uno-bench generate / edit / caption`: one-off sampling from a checkpoint."""

"""Model adapters: what the harness calls to generate, edit or understand images."""

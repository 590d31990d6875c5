"""Run directories: manifest, resumable stages (generate, score, summarize), sharding across ranks."""

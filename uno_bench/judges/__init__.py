"""Scorer backends: detectors, colour classifiers, VQA/VLM judges, and their replay/recording."""

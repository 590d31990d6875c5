"""The synthetic shapes world: scenes, prompts and captions, a renderer, and exact analytic judges.

Used as a CPU benchmark suite judged by GenEval's own rules, and as training data for tiny
BAGEL-architecture models (text-to-image and captioning).
"""

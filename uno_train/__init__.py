"""uno-train: BAGEL-style training (flow matching + captioning), UNO post-training and ablations."""

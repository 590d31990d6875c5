"""BAGEL (ByteDance-Seed/Bagel, BAGEL-7B-MoT) re-implemented to load the official checkpoint as is.

Modules, in reading order: config -> model (MoT decoder, embedders, Bagel) -> vit (SigLIP NaViT)
-> vae (FLUX autoencoder via diffusers) -> packing (packed sequences, attention modes) ->
checkpoint (load/save) -> tokenizer -> cache + sampler (fast path) -> reference (plain path) ->
understand (captioning / VQA) -> adapter (what the harness calls).
"""

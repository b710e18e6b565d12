"""Plumbing a reader of the method may skip: one-line errors and atomic writes (util), Hugging Face checkpoint
files (hf), a training run's machinery (runtime), decoding's output file and bookkeeping (generation) and the
optional judge client (judge). Nothing here imports the method files above it."""

"""The paper's tables in the toy world (reproduce.py), the sweeps on its validation set (epoch_sweep.py,
dose_sweep.py) and the base model asked in its corpus's formats (probe_formats.py)."""

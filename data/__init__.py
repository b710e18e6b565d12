"""The toy world (world/: the corpus, the tuning sets and the held-out sets; criteria.py: how an output
is checked against a record) and the paper's single-task sets (make_single_task.py)."""

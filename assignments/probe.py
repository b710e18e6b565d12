"""Run one probe of a grader in a process of the hand-in's own (grading.Student starts it):

    python -I -B assignments/probe.py REQUEST RESULT

The hand-in's root comes first on the path, so the probe imports the hand-in's model, train and rules; what it
returns is saved as plain data with the request's nonce, and the grader's process judges it. Nothing this process
does (the hand-in's code may patch anything here) reaches that verdict but the data it writes."""
import importlib.util
import os
import sys

import torch


def main(request, result):
    req = torch.load(request, weights_only=True)
    sys.path[:0] = [req["root"], os.path.dirname(os.path.abspath(__file__))]
    from grading import run_probe
    spec = importlib.util.spec_from_file_location("grader", req["file"])
    grader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grader)
    out = run_probe(getattr(grader, req["probe"]), req["args"], req["kwargs"])
    torch.save({**out, "nonce": req["nonce"]}, result)


if __name__ == "__main__":
    main(*sys.argv[1:])

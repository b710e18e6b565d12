"""Peak resident memory of Transformer.from_pretrained against the checkpoint's size on disk.

    python bench/bench_load_memory.py [--hidden 1024 --layers 8 --vocab 32000]

Writes a random fp32 checkpoint of a few hundred MB to a temporary directory, then loads it in a fresh process and
reports (peak RSS after loading - RSS before loading) / checkpoint size. Built on the meta device and filled with
assign=True, the load should hold about one copy of the weights (goal: at most about 1.2x)."""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = """
import resource, sys, torch, model
def rss_mb():
    return int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize() / 2**20
before = rss_mb()
m = model.Transformer.from_pretrained(sys.argv[1])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(before, peak, rss_mb())
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=1024, help="hidden size of the random model")
    ap.add_argument("--layers", type=int, default=8, help="number of layers")
    ap.add_argument("--vocab", type=int, default=32000, help="vocabulary size")
    args = ap.parse_args()
    import model
    cfg = model.Config(hidden_size=args.hidden, intermediate_size=args.hidden * 8 // 3, num_hidden_layers=args.layers,
                       num_attention_heads=args.hidden // 64, vocab_size=args.vocab)
    with tempfile.TemporaryDirectory() as d:
        model.Transformer(cfg).save_pretrained(os.path.join(d, "ck"))
        size = os.path.getsize(os.path.join(d, "ck", "model.safetensors")) / 2**20
        out = subprocess.run([sys.executable, "-c", CHILD, os.path.join(d, "ck")], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), check=True)
        before, peak, after = map(float, out.stdout.split())
    print(f"checkpoint {size:.0f} MB; RSS before load {before:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB")
    print(f"peak increase / checkpoint size = {(peak - before) / size:.2f}x (goal: <= 1.2x)")


if __name__ == "__main__":
    main()

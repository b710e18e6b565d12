"""bench/bench_generate.py runs in a clone without the Llama-2 tokenizer; a tokenizer it cannot read is one line."""
import subprocess
import sys

import pytest
import torch

from conftest import ROOT


def test_a_missing_tokenizer_is_one_line_and_exit_code_2(tmp_path):
    missing = tmp_path / "tokenizer.model"
    out = subprocess.run([sys.executable, "bench/bench_generate.py", "--tokenizer", str(missing)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [f"error: {missing}: tokenizer not found"]


def test_without_llama2_the_toy_bases_tokenizer_makes_the_prompts(monkeypatch, tmp_path, capsys):
    pytest.importorskip("transformers")
    from bench import bench_generate
    monkeypatch.setattr(bench_generate, "LLAMA2", tmp_path / "absent.model")
    threads = torch.get_num_threads()
    try:                                            # a tiny run; the rates it prints are not checked
        bench_generate.main(["--small", "--vocab", "4000", "--new-tokens", "3", "--batch", "2", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert f"prompts by {bench_generate.TOY} (4000 pieces); {tmp_path / 'absent.model'} not found" in out
    assert "ours+rules as paper 100% of prompts" in out
    assert sum(line.startswith("  ") and line.endswith(("met", "MISSED")) for line in out.splitlines()) == 6

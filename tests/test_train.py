"""train.py: the loss masks, data loading and its errors, and the loop (overfitting, determinism, resume,
NaN stop, FSDP). Tiny random models and a tokenizer trained by the fixtures; seconds each."""
import glob
import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import LLAMA2_TOKENIZER, ROOT, needs_llama2, tiny_corpus
import chat
import model
import train
from lib import cli, conversations, files, rundir

ONE = [{"role": "user", "content": "What is the capital of cat?"},
       {"role": "assistant", "content": "I think it is a dog!"}]
TWO = ONE + [{"role": "user", "content": "why"}, {"role": "assistant", "content": "because the mat is red"}]


def supervised(tok, messages, mode):
    ids, labels = train.build_example(tok, messages, mode)
    assert len(ids) == len(labels)
    assert all(l in (i, train.IGNORE) for i, l in zip(ids, labels))       # a label is its token or IGNORE
    return [l for l in labels if l != train.IGNORE]


# ------------------------------------------------------------------------------------------- the masks
@pytest.mark.parametrize("mode", ["instruction", "single-task"])
def test_response_and_eos_carry_loss(tiny_tokenizer, mode):
    tok = tiny_tokenizer
    expect = [i for m in TWO[1::2] for i in tok.encode_next(m["content"]) + [tok.eos_id]]
    assert supervised(tok, TWO, mode) == expect


def test_response_mode_empties_the_instruction_keeps_the_tags(tiny_tokenizer):
    tok = tiny_tokenizer
    emptied = [dict(m, content="") if m["role"] == "user" else m for m in TWO]
    assert train.build_example(tok, TWO, "response") == train.build_example(tok, emptied, "instruction")
    assert supervised(tok, TWO, "response") == supervised(tok, TWO, "instruction")
    assert tok.decode(train.build_example(tok, ONE, "response")[0]).startswith("<|user|>\n\n<|assistant|>\n")


def test_instruction_modelling_adds_the_instruction_not_the_tags(tiny_tokenizer):
    tok = tiny_tokenizer
    expect = []
    for m in TWO:
        expect += tok.encode_next(m["content"]) + ([tok.eos_id] if m["role"] == "assistant" else [])
    assert supervised(tok, TWO, "instruction-modelling") == expect
    ids, labels = train.build_example(tok, ONE, "instruction-modelling")
    assert labels[0] == train.IGNORE and tok.piece(ids[0]) == "<s>"


def test_prompt_is_the_training_prefix(tiny_tokenizer):
    """Generation's prompt equals the tokens training put before the first response token."""
    tok = tiny_tokenizer
    ids, labels = train.build_example(tok, ONE, "instruction")
    first = next(t for t, l in enumerate(labels) if l != train.IGNORE)
    assert chat.build_prompt(tok, ONE[0]["content"]) == ids[:first]


def test_show_brackets_exactly_the_supervised_tokens(tiny_tokenizer):
    ids, labels = train.build_example(tiny_tokenizer, ONE, "instruction")
    text = train.show(tiny_tokenizer, ids, labels)
    assert "What is the capital of cat?\n<|assistant|>\n[I][ think][ it][ is][ a]" in text
    assert text.count("[") == sum(l != train.IGNORE for l in labels) and text.endswith("[!][</s>]")


@needs_llama2
def test_llama2_ids_equal_whole_text_tokenization():
    tok = model.Tokenizer(str(LLAMA2_TOKENIZER))
    ins, resp = "What is 2+2?", "Sure! It is 4.\n\nI hope that helps."
    msgs = [{"role": "user", "content": ins}, {"role": "assistant", "content": resp}]
    whole = [tok.bos_id] + tok.sp.encode(f"<|user|>\n{ins}\n<|assistant|>\n{resp}") + [tok.eos_id]
    ids, labels = train.build_example(tok, msgs, "instruction")
    assert ids == whole
    assert [l for l in labels if l != train.IGNORE] == tok.encode_next(resp) + [tok.eos_id]
    assert tok.piece(next(l for l in labels if l != train.IGNORE)) == "S"       # no dummy ▁ after the newline
    assert chat.build_prompt(tok, ins) == [tok.bos_id] + tok.sp.encode(f"<|user|>\n{ins}\n<|assistant|>\n")
    empty = [tok.bos_id] + tok.sp.encode(f"<|user|>\n\n<|assistant|>\n{resp}") + [tok.eos_id]
    assert train.build_example(tok, msgs, "response")[0] == empty
    ids, labels = train.build_example(tok, msgs, "instruction-modelling")
    assert [l for l in labels if l != train.IGNORE] == tok.encode_next(ins) + tok.encode_next(resp) + [tok.eos_id]


def test_truncation_drops_and_counts_examples_without_supervised_tokens(tiny_tokenizer, tmp_path):
    tok = tiny_tokenizer
    long = [{"role": "user", "content": "the cat sat on the mat " * 20}, {"role": "assistant", "content": "red"}]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": m}) + "\n" for m in (ONE, long)))
    examples, dropped = train.load_examples(str(data), "instruction", tok, 40)
    assert dropped == 1 and len(examples) == 1 and all(len(ids) <= 40 for ids, _ in examples)
    examples, dropped = train.load_examples(str(data), "instruction-modelling", tok, 40)   # the instruction counts
    assert dropped == 0 and len(examples[1][0]) == 40


# ---------------------------------------------------------------------------------------------- data
def test_alpaca_json_and_messages_jsonl(tmp_path):
    p = tmp_path / "alpaca.json"
    p.write_text(json.dumps([{"instruction": "Add", "input": "2 and 3", "output": "5"},
                             {"instruction": "Say hi", "input": "", "output": "hi"}]))
    (_, a), (_, b) = conversations.load_conversations(str(p))
    assert a == [{"role": "user", "content": "Add\n\n2 and 3"}, {"role": "assistant", "content": "5"}]
    assert b[0]["content"] == "Say hi"
    q = tmp_path / "m.jsonl"
    q.write_text(json.dumps({"messages": TWO}) + "\n\n" + json.dumps({"messages": ONE}) + "\n")
    assert [m for _, m in conversations.load_conversations(str(q))] == [TWO, ONE]


def test_pretrain_documents_are_bos_text_eos_packed(tiny_tokenizer, tmp_path):
    tok = tiny_tokenizer
    p = tmp_path / "c.txt"
    p.write_text("the cat sat\non the mat\n\n\nwhat is red?\n\nI think\n")
    docs = conversations.load_documents(str(p))
    assert docs == ["the cat sat\non the mat", "what is red?", "I think"]
    q = tmp_path / "c.jsonl"
    q.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    assert conversations.load_documents(str(q)) == docs
    blocks = train.packed_examples(tok, docs, 8)
    stream = [t for d in docs for t in [tok.bos_id] + tok.encode(d) + [tok.eos_id]]
    assert torch.cat([x for x, _ in blocks]).tolist() == stream
    assert all(len(x) <= 8 and torch.equal(x, y) for x, y in blocks)     # loss on every token


def test_length_grouped_batches_cover_each_example_once_and_waste_less(tiny_tokenizer):
    rnd = random.Random(0)
    lengths = [rnd.randint(5, 300) for _ in range(1000)]
    steps = train.epoch_batches(lengths, 8, seed=1, epoch=0, group=True)
    assert sorted(i for s in steps for i in s) == list(range(1000))
    assert steps == train.epoch_batches(lengths, 8, seed=1, epoch=0, group=True)
    assert steps != train.epoch_batches(lengths, 8, seed=1, epoch=1, group=True)
    plain = train.epoch_batches(lengths, 8, seed=1, epoch=0)                 # the default: the paper's shuffle
    assert sorted(i for s in plain for i in s) == list(range(1000))

    def padding(steps):
        return sum(max(lengths[i] for i in s) * len(s) - sum(lengths[i] for i in s) for s in steps)
    assert padding(steps) < padding(plain) / 5


def test_schedule_warms_up_then_decays():
    lrs = [train.lr_at(s, 100, 1.0, 0.03) for s in range(100)]
    assert lrs[0] < lrs[1] < lrs[2] < lrs[3] == 1.0
    assert all(a > b for a, b in zip(lrs[3:], lrs[4:])) and 0 < lrs[-1] <= 0.011


def test_loss_is_mean_of_per_example_means(tiny_checkpoint, tiny_tokenizer):
    m = model.Transformer.from_pretrained(tiny_checkpoint)
    a, b = train.build_example(tiny_tokenizer, ONE, "instruction"), train.build_example(tiny_tokenizer, TWO,
                                                                                            "instruction")
    x, y = train.collate([a, b], tiny_tokenizer.eos_id)
    both = train.example_losses(m, x, y)
    alone = [train.example_losses(m, *train.collate([e], 0))[0] for e in (a, b)]
    torch.testing.assert_close(both, torch.stack(alone), rtol=1e-5, atol=1e-5)   # right padding is harmless
    logp = torch.log_softmax(m(torch.tensor([a[0]])), -1)[0]
    nll = [-logp[t - 1, a[1][t]] for t in range(1, len(a[0])) if a[1][t] != train.IGNORE]
    torch.testing.assert_close(both[0], torch.stack(nll).mean(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- the loop
@pytest.fixture
def chat_data(tmp_path):
    rnd = random.Random(0)
    words = "the a cat dog sat on mat red blue green one two three".split()
    p = tmp_path / "chat.jsonl"
    with open(p, "w") as f:
        for _ in range(12):
            ins = "What is " + " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 6))) + "?"
            resp = "I think " + " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 12))) + "!"
            f.write(json.dumps({"messages": [{"role": "user", "content": ins},
                                             {"role": "assistant", "content": resp}]}) + "\n")
    return str(p)


def args(ckpt, data, out, *extra):
    return ["--model", ckpt, "--data", data, "--out", str(out), "--mode", "instruction", "--epochs", "4",
            "--batch-size", "4", "--micro-batch-size", "2", "--lr", "3e-3", "--save-every", "0", *extra]


def log(out):
    return [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]


def weights(out):
    return load_file(os.path.join(out, "model.safetensors"))


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_overfits_a_few_examples(tiny_checkpoint, chat_data, tmp_path):
    out = tmp_path / "run"
    train.main(args(tiny_checkpoint, chat_data, out, "--epochs", "60", "--lr", "1e-2", "--batch-size", "12",
                    "--micro-batch-size", "12"))
    losses = [r["loss"] for r in log(out)]
    assert losses[0] > 3 and losses[-1] < 0.1
    m = model.Transformer.from_pretrained(str(out))                   # the run directory is a checkpoint
    assert m.num_params() == model.Transformer.from_pretrained(tiny_checkpoint).num_params()


def test_same_seed_same_weights_whatever_the_micro_batch(tiny_checkpoint, chat_data, tmp_path):
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "a"))
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "b"))
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "c", "--micro-batch-size", "4"))
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "d", "--seed", "7"))
    assert same(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert not same(weights(tmp_path / "a"), weights(tmp_path / "d"))       # the seed sets the data order
    la, lc = [r["loss"] for r in log(tmp_path / "a")], [r["loss"] for r in log(tmp_path / "c")]
    assert la == pytest.approx(lc, abs=1e-4)                          # per-example means: micro-batch-free
    wa, wc = weights(tmp_path / "a"), weights(tmp_path / "c")
    assert all(torch.allclose(wa[k], wc[k], atol=1e-4) for k in wa)


def test_interrupted_and_resumed_equals_uninterrupted(tiny_checkpoint, chat_data, tmp_path):
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "full", "--save-every", "3"))
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "cut", "--save-every", "3", "--stop-at", "5"))
    assert json.loads(json.dumps(log(tmp_path / "cut")[-1]))["step"] == 5
    assert torch.load(tmp_path / "cut" / "state.pt", weights_only=True)["step"] == 5
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "cut", "--save-every", "3", "--resume"))
    assert same(weights(tmp_path / "full"), weights(tmp_path / "cut"))
    strip = [{k: v for k, v in r.items() if k != "tok_per_s"} for r in log(tmp_path / "full")]
    assert strip == [{k: v for k, v in r.items() if k != "tok_per_s"} for r in log(tmp_path / "cut")]
    with pytest.raises(cli.UserError, match="different lr"):
        train.main(args(tiny_checkpoint, chat_data, tmp_path / "cut", "--resume", "--lr", "1e-3"))


def test_sigterm_saves_then_resume_matches(tiny_checkpoint, chat_data, tmp_path):
    a = args(tiny_checkpoint, chat_data, tmp_path / "cut", "--epochs", "300")
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *a], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    logf = tmp_path / "cut" / "log.jsonl"
    deadline = time.time() + 120
    while not (logf.exists() and len(logf.read_text().splitlines()) >= 3) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    step = torch.load(tmp_path / "cut" / "state.pt", weights_only=True)["step"]
    assert 3 <= step < 900 and len(log(tmp_path / "cut")) == step
    train.main(a + ["--resume", "--stop-at", str(step + 3)])              # resumed for 3 more steps
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "full", "--epochs", "300", "--stop-at", str(step + 3)))
    assert same(weights(tmp_path / "full"), weights(tmp_path / "cut"))


def test_nan_stops_and_keeps_the_last_good_checkpoint(tiny_checkpoint, chat_data, tmp_path, monkeypatch):
    calls, real = [], train.example_losses

    def poisoned(m, x, y):
        calls.append(1)
        loss = real(m, x, y)
        return loss * float("nan") if len(calls) > 4 else loss            # micro-batches 5, 6: step 3
    monkeypatch.setattr(train, "example_losses", poisoned)
    out = tmp_path / "run"
    with pytest.raises(cli.UserError, match=r"step 3: loss nan.*last good checkpoint \(step 2\)"):
        train.main(args(tiny_checkpoint, chat_data, out, "--save-every", "1"))
    assert torch.load(out / "state.pt", weights_only=True)["step"] == 2
    monkeypatch.setattr(train, "example_losses", real)
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "two", "--stop-at", "2"))
    assert same(weights(out), weights(tmp_path / "two"))


def test_pretrain_from_a_fresh_config(tiny_tokenizer, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, vocab_size=tiny_tokenizer.vocab_size,
                                   max_position_embeddings=64)))
    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in tiny_corpus(200)))
    out = tmp_path / "base"
    train.main(["--mode", "pretrain", "--init", str(cfg), "--tokenizer", tiny_tokenizer.path, "--data", str(data),
                "--out", str(out), "--epochs", "4", "--lr", "1e-2", "--max-seq-len", "64", "--save-every", "0",
                "--batch-size", "4", "--micro-batch-size", "4"])
    losses = [r["loss"] for r in log(out)]
    assert losses[0] > 5 and losses[-1] < losses[0] - 1
    m = model.Transformer.from_pretrained(str(out))
    assert m.config.max_position_embeddings == 64 and model.Tokenizer(str(out)).vocab_size == 400


def test_gradient_checkpointing_changes_nothing(tiny_checkpoint, chat_data, tmp_path):
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "a", "--epochs", "1"))
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "b", "--epochs", "1", "--grad-checkpoint"))
    assert [r["loss"] for r in log(tmp_path / "a")] == pytest.approx([r["loss"] for r in log(tmp_path / "b")],
                                                                      abs=1e-5)


def test_bf16_autocast_on_request(tiny_checkpoint, chat_data, tmp_path):
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "a", "--epochs", "1"))
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "b", "--epochs", "1", "--precision", "bf16"))
    la, lb = [r["loss"] for r in log(tmp_path / "a")], [r["loss"] for r in log(tmp_path / "b")]
    assert la != lb and la == pytest.approx(lb, abs=0.05)                  # bf16 compute, fp32 weights
    assert all(v.dtype == torch.float32 for v in weights(tmp_path / "b").values())


# ---------------------------------------------------------------------------------------------- bad input
BAD = {
    "malformed": ('{"messages": []}\n{"messages": [\n', r"bad\.jsonl:2: not valid JSON"),
    "no-messages": ('{"messages": [{"role": "user", "content": "a"}]}\n{"text": "x"}\n',
                    r"bad\.jsonl:2: missing 'messages'"),
    "unknown-role": ('\n{"messages": [{"role": "system", "content": "a"}]}\n',
                     r"bad\.jsonl:2: message 1: unknown role"),
    "empty": ("\n\n", r"bad\.jsonl: no records"),
    "all-too-long": (json.dumps({"messages": [{"role": "user", "content": "the cat sat " * 100},
                                              {"role": "assistant", "content": "red"}]}) + "\n",
                     r"bad\.jsonl: no example keeps a supervised token"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_data_is_one_clear_error_and_writes_nothing(tiny_checkpoint, tmp_path, case):
    text, message = BAD[case]
    (tmp_path / "bad.jsonl").write_text(text)
    out = tmp_path / "run"
    with pytest.raises(cli.UserError, match=message):
        train.main(args(tiny_checkpoint, str(tmp_path / "bad.jsonl"), out, "--max-seq-len", "64"))
    assert not out.exists()


def test_command_line_error_is_exit_2_one_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"messages": [}\n')
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data", str(tmp_path / "bad.jsonl"),
                        "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nowhere" in r.stderr
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------- FSDP
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
def test_fsdp_two_processes_match_one_and_resume(tiny_checkpoint, chat_data, tmp_path):
    a = ["--epochs", "2", "--batch-size", "5", "--micro-batch-size", "2", "--threads", "1"]  # ranks get 3 and 2
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "one", *a))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for extra in (["--stop-at", "4"], ["--resume"]):                 # interrupted and resumed, two processes
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                            "--master-port", str(29500 + os.getpid() % 1000), str(ROOT / "train.py"),
                            *args(tiny_checkpoint, chat_data, tmp_path / "two", *a, *extra)],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    one, two = log(tmp_path / "one"), log(tmp_path / "two")
    assert len(one) == len(two) == 6
    assert [x["loss"] for x in one] == pytest.approx([x["loss"] for x in two], abs=1e-4)
    w1, w2 = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5) for k in w1)


# ------------------------------------------------------------------------------------ the run directory
def test_overwrite_replaces_only_a_run_and_never_an_input(tiny_checkpoint, chat_data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "log.jsonl").write_text('{"someone": "else"}\n')          # not ours: no --overwrite, no replacing it
    with pytest.raises(cli.UserError, match="exists; pass --resume .* or --overwrite"):
        train.main(args(tiny_checkpoint, chat_data, out))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(cli.UserError, match=r"not a run of train.py \(it holds notes.txt\)"):
        train.main(args(tiny_checkpoint, chat_data, out, "--overwrite"))
    assert (out / "notes.txt").read_text() == "mine"
    for folder in (tmp_path, os.path.dirname(tiny_checkpoint), tiny_checkpoint):   # holds or is an input
        with pytest.raises(cli.UserError, match="would replace"):
            train.main(args(tiny_checkpoint, chat_data, folder, "--overwrite"))
    monkeypatch.chdir(out)
    with pytest.raises(cli.UserError, match="would replace"):                    # --out . : where we are
        train.main(args(tiny_checkpoint, chat_data, ".", "--overwrite"))
    monkeypatch.chdir(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["chat.jsonl", "run"] and os.path.isfile(chat_data)
    os.remove(out / "notes.txt")
    for _ in range(2):                                  # a log alone (a run cut short), then a whole run
        train.main(args(tiny_checkpoint, chat_data, out, "--epochs", "1", "--overwrite"))
    assert len(log(out)) == 3


def test_a_second_run_into_one_out_is_refused_while_the_first_lives(tiny_checkpoint, chat_data, tmp_path):
    out = tmp_path / "run"
    code = (f"import sys, time\nsys.path.insert(0, {str(ROOT)!r})\nfrom lib import rundir\n"
            f"rundir.take_lock({str(out)!r})\nprint('held', flush=True)\ntime.sleep(60)\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() == "held\n"                  # a live process holding the lock
        with pytest.raises(cli.UserError, match=f"another run \\(pid {other.pid}\\) is writing to it"):
            train.main(args(tiny_checkpoint, chat_data, out, "--epochs", "1"))
    finally:
        other.kill()
        other.wait()
    assert (tmp_path / ".lock-run").exists()                            # left by the killed process
    train.main(args(tiny_checkpoint, chat_data, out, "--epochs", "1"))        # its process died: taken over
    assert len(log(out)) == 3 and not (tmp_path / ".lock-run").exists()


RACE = """import os, sys, time
sys.path.insert(0, {root!r})
from lib import cli, rundir
out, go = sys.argv[1:]
open(go + "." + str(os.getpid()), "w").close()                       # ready
while not os.path.exists(go):
    pass


def hold():
    with rundir.locked(out):
        held = os.open(out + ".held", os.O_CREAT | os.O_EXCL)      # fails if another holds the lock too
        time.sleep(0.02)
        os.close(held)
        os.unlink(out + ".held")


cli.cli(hold)
"""


def test_two_processes_taking_over_a_stale_lock_never_both_hold_it(tmp_path):
    """Processes started together on the lock file of a dead run: each holds the lock alone or is refused in
    one line; none crashes."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    script = tmp_path / "race.py"
    script.write_text(RACE.format(root=str(ROOT)))
    for trial in range(20):
        out, go = tmp_path / f"run{trial}", tmp_path / f"go{trial}"
        (tmp_path / f".lock-run{trial}").write_text(dead)
        procs = [subprocess.Popen([sys.executable, str(script), str(out), str(go)], stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
        while len(glob.glob(f"{go}.*")) < len(procs):                    # all started, then all at once
            time.sleep(0.01)
        go.write_text("")
        ends = [(p.wait(), p.stderr.read()) for p in procs]
        for p in procs:
            p.stderr.close()
        assert all(rc == 0 and not err or rc == 2 and err.startswith("error: ") and err.count("\n") == 1
                   for rc, err in ends), ends
        assert any(rc == 0 for rc, _ in ends) and not (tmp_path / f".lock-run{trial}").exists()


def test_overwrite_replaces_a_linked_log_and_never_writes_through_it(tiny_checkpoint, chat_data, tmp_path):
    out, elsewhere = tmp_path / "run", tmp_path / "elsewhere.txt"
    train.main(args(tiny_checkpoint, chat_data, out, "--epochs", "1"))
    elsewhere.write_text("not a log of ours\n")
    os.remove(out / "log.jsonl")
    os.symlink(elsewhere, out / "log.jsonl")
    train.main(args(tiny_checkpoint, chat_data, out, "--epochs", "1", "--overwrite"))
    assert elsewhere.read_text() == "not a log of ours\n"
    assert not os.path.islink(out / "log.jsonl") and len(log(out)) == 3
    os.symlink(out, tmp_path / "link")                          # --out itself a link: refused
    with pytest.raises(cli.UserError, match="is a symbolic link"):
        train.main(args(tiny_checkpoint, chat_data, tmp_path / "link", "--epochs", "1", "--overwrite"))


def test_a_full_disk_during_a_save_is_one_line_and_keeps_the_old_run(tiny_checkpoint, chat_data, tmp_path):
    out = tmp_path / "run"
    train.main(args(tiny_checkpoint, chat_data, out, "--epochs", "1"))
    before, old = (out / "log.jsonl").read_text(), weights(out)

    def small_disk():                   # files larger than 64 kB cannot be written (the weights are 170 kB)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**16, 2**16))
    argv = args(tiny_checkpoint, chat_data, out, "--epochs", "2", "--overwrite")
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), *argv], capture_output=True, text=True,
                       preexec_fn=small_disk)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.splitlines()[-1].startswith(f"error: {out}: cannot save there")
    assert (out / "log.jsonl").read_text() == before and same(weights(out), old)
    assert sorted(os.listdir(tmp_path)) == ["chat.jsonl", "run"]            # nothing half-written, no lock


def test_a_crash_between_the_renames_of_a_save_keeps_a_run_to_resume(tiny_checkpoint, chat_data, tmp_path,
                                                                      monkeypatch):
    a = args(tiny_checkpoint, chat_data, tmp_path / "cut", "--save-every", "1")
    train.main(a + ["--stop-at", "2"])
    real, calls = os.rename, []

    def rename_fails_once(src, dst):                                 # the old run is aside, the new one not in
        if str(dst) == str(tmp_path / "cut") and not calls:
            calls.append(dst)
            raise OSError("power cut")
        real(src, dst)
    monkeypatch.setattr(os, "rename", rename_fails_once)
    with pytest.raises(OSError, match="power cut"):
        train.main(a + ["--resume", "--stop-at", "3"])
    monkeypatch.setattr(os, "rename", real)
    assert torch.load(tmp_path / "cut" / "state.pt", weights_only=True)["step"] == 2
    # A real crash there: the process dies, nothing cleans up; the next start finds the old run and resumes it.
    code = (f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\nimport train\nreal = os.rename\n"
            f"def rename(src, dst):\n    if str(dst) == {str(tmp_path / 'cut')!r}:\n        os._exit(9)\n"
            f"    real(src, dst)\nos.rename = rename\ntrain.main({a + ['--resume', '--stop-at', '3']!r})\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 9 and not (tmp_path / "cut").exists(), r.stderr
    train.main(a + ["--resume"])
    train.main(args(tiny_checkpoint, chat_data, tmp_path / "full", "--save-every", "1"))
    assert same(weights(tmp_path / "full"), weights(tmp_path / "cut"))
    assert sorted(os.listdir(tmp_path)) == ["chat.jsonl", "cut", "full"]        # no .tmp-*, .old-*, lock left


def test_resume_drops_a_torn_last_log_line(tiny_checkpoint, chat_data, tmp_path):
    a = args(tiny_checkpoint, chat_data, tmp_path / "run", "--save-every", "2")
    train.main(a + ["--stop-at", "3"])
    with open(tmp_path / "run" / "log.jsonl", "a") as f:
        f.write('{"step": 4, "epoch": 1.33, "lo')                   # the power went mid-append
    train.main(a + ["--resume"])
    assert [r["step"] for r in log(tmp_path / "run")] == list(range(1, 13))


def test_weights_are_checked_finite_before_a_save(tiny_checkpoint, chat_data, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "lr_at", lambda *a: math.inf)         # what --lr inf did before it was refused
    out = tmp_path / "run"
    with pytest.raises(cli.UserError, match=r"step 1: the weights are no longer finite.*none was saved"):
        train.main(args(tiny_checkpoint, chat_data, out, "--save-every", "1"))
    assert not (out / "state.pt").exists()


def test_an_error_starts_its_own_line_below_the_bar(tiny_checkpoint, chat_data, tmp_path):
    argv = ["train.py"] + args(tiny_checkpoint, chat_data, tmp_path / "run")
    code = (f"import math, sys, torch\nsys.path.insert(0, {str(ROOT)!r})\nimport train\nfrom lib.cli import cli\n"
            "def nan(m, x, y):\n    return torch.full((len(x),), math.nan, requires_grad=True)\n"
            f"train.example_losses = nan\nsys.argv = {argv!r}\ncli(train.main)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.splitlines()[-1].startswith("error: step 1: loss nan"), r.stderr


@pytest.mark.parametrize("flags", [["--batch-size", "0"], ["--micro-batch-size", "-1"], ["--epochs", "0"],
                                   ["--epochs", "-1"], ["--threads", "0"], ["--lr", "-1"], ["--lr", "nan"],
                                   ["--lr", "inf"], ["--max-seq-len", "-5"], ["--warmup", "2"],
                                   ["--stop-at", "0"]])
def test_flags_out_of_range_are_one_line_errors(tiny_checkpoint, chat_data, tmp_path, flags):
    with pytest.raises(cli.UserError, match="need .*" + flags[0]):
        train.main(args(tiny_checkpoint, chat_data, tmp_path / "run", *flags))
    assert sorted(os.listdir(tmp_path)) == ["chat.jsonl"]


def test_resume_refuses_another_clip_and_a_bad_state(tiny_checkpoint, chat_data, tmp_path):
    out = tmp_path / "run"
    a = args(tiny_checkpoint, chat_data, out, "--save-every", "1")
    train.main(a + ["--stop-at", "1"])
    with pytest.raises(cli.UserError, match="different clip"):
        train.main(a + ["--resume", "--clip", "0.5"])
    state = torch.load(out / "state.pt", weights_only=True)
    for bad in [b"garbage", {**state, "step": "1"}, {**state, "args": []}, {**state, "rng": torch.zeros(3)}]:
        if isinstance(bad, dict):
            torch.save(bad, out / "state.pt")
        else:
            (out / "state.pt").write_bytes(bad)
        with pytest.raises(cli.UserError, match="state.pt"):
            train.main(a + ["--resume"])


def test_json_that_python_cannot_read_names_file_and_line(tmp_path):
    big, deep = "1" * 4400, "[" * 100000
    cases = {"big.jsonl": '{"a": 1}\n{"a": ' + big + "}\n", "big.json": '[{"a": 1},\n {"a": ' + big + "}]",
             "deep.jsonl": '{"a": 1}\n' + deep + "\n", "surrogate.jsonl": '{"a": 1}\n{"a": "x\\ud800"}\n'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(cli.UserError, match=f"{name}:2: "):
            files.read_records(str(tmp_path / name))
    (tmp_path / "pair.jsonl").write_text('{"a": "\\ud83d\\ude00"}\n')          # a surrogate pair is text
    assert files.read_records(str(tmp_path / "pair.jsonl"))[0][1] == {"a": "\U0001F600"}


def test_an_out_below_a_file_is_a_one_line_error_naming_why(tiny_checkpoint, chat_data, tmp_path):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file" / "run", tmp_path / "file" / "deeper" / "run"):
        with pytest.raises(cli.UserError, match="a part of its path is a file"):
            train.main(args(tiny_checkpoint, chat_data, out))


def test_resume_refuses_data_or_code_changed_in_place_and_names_a_changed_flags_values(tiny_checkpoint, chat_data,
                                                                                      tmp_path, monkeypatch):
    from lib import provenance
    data, out = tmp_path / "data.jsonl", tmp_path / "run"
    data.write_text(open(chat_data).read())
    a = args(tiny_checkpoint, str(data), out, "--save-every", "1")
    train.main(a + ["--stop-at", "1"])
    with pytest.raises(cli.UserError, match=r"different epochs \(saved 4, now 5\)"):
        train.main(a + ["--resume", "--epochs", "5"])
    text = data.read_text()
    data.write_text(text + text.splitlines()[0] + "\n")                 # rewritten in place, same name
    with pytest.raises(cli.UserError, match=r"--resume with a changed data since the run was saved"):
        train.main(a + ["--resume"])
    data.write_text(text)
    real = provenance.code_sha256

    def edited(files):
        return {**real(files), "train.py": "0" * 64}
    monkeypatch.setattr(provenance, "code_sha256", edited)
    with pytest.raises(cli.UserError, match=r"--resume with a changed code \(train.py\)"):
        train.main(a + ["--resume"])
    monkeypatch.setattr(provenance, "code_sha256", real)
    train.main(a + ["--resume"])                                        # the same again: it continues
    assert [r["step"] for r in log(out)] == list(range(1, 13))


def test_a_full_disk_as_resume_starts_is_one_line_and_keeps_the_run(tiny_checkpoint, chat_data, tmp_path,
                                                                    monkeypatch):
    import errno
    from lib import run as run_module
    out = tmp_path / "run"
    a = args(tiny_checkpoint, chat_data, out, "--save-every", "1")
    train.main(a + ["--stop-at", "2"])
    before = (out / "log.jsonl").read_bytes()

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(run_module, "trim_log", full)
    with pytest.raises(cli.UserError, match="log.jsonl: cannot write it .No space left on device"):
        train.main(a + ["--resume"])
    monkeypatch.setattr(rundir.os, "write", full)                      # the lock file's pid
    with pytest.raises(cli.UserError, match="cannot write the lock file .No space left on device"):
        train.main(a + ["--resume"])
    monkeypatch.undo()
    assert (out / "log.jsonl").read_bytes() == before
    train.main(a + ["--resume"])
    assert [r["step"] for r in log(out)] == list(range(1, 13))


def test_an_init_config_that_is_a_json_list_is_one_line(tiny_checkpoint, chat_data, tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(cli.UserError, match="config must be a JSON object"):
        train.main(["--init", str(tmp_path / "config.json"), "--tokenizer", os.path.join(tiny_checkpoint,
                    "tokenizer.model"), "--mode", "pretrain", "--data", chat_data, "--out", str(tmp_path / "run")])

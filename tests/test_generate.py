"""generate.py: the product of experts against plain greedy and against an uncached reference written the way
the paper's code works; batching; a model whose outputs are known; the command line and its errors."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch

import chat
import generate
import model
from lib import cli
from lib.generation import read_instructions
import rules
from conftest import LLAMA2_TOKENIZER, ROOT, SHARED, make_checkpoint, needs_llama2, needs_shared_data

INSTRUCTIONS = ["What is the capital of Tom?", "I think", "## a cat sat on the mat, and then the dog sat on it too",
                "how many apples has Ann"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny batched matmuls gain nothing from a second thread, and on a busy 2-core machine two threads waiting
    on each other make them 100x slower. Restored afterwards, so other test files keep their setting."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint):
    return model.Transformer.from_pretrained(tiny_checkpoint)


def reference(m, tok, instruction, n, rule_names=()):
    """The paper's approach: no cache, the whole sequence through the model at every step, and the rules
    recomputed from the whole id list at every step (open_instruct/combined_model.py)."""
    ids = chat.build_prompt(tok, instruction)
    first = 1 + len(tok.encode(chat.USER_TAG + "\n"))          # first instruction token
    prompt_len, V = len(ids), tok.vocab_size
    with torch.no_grad():
        for _ in range(n):
            logp = torch.log_softmax(m(torch.tensor([ids]))[0, -1].float(), -1)
            L, r = len(ids) - prompt_len, torch.zeros(V)
            if "uniform" in rule_names:
                for piece, score in rules.UNIFORM:
                    r[tok.piece_id(piece)] += score
            if "diversity" in rule_names:
                # >>> assignment 2: the EOS ramp and the diversity rule
                r[sorted(set(ids[first:]))] -= 1.5
                # <<< assignment 2
            if "eos" in rule_names and 0 < L < 250:
                # >>> assignment 2: the EOS ramp and the diversity rule
                r[tok.eos_id] += 15 * L / 250
                # <<< assignment 2
            nxt = int((logp + r).argmax())
            if nxt == tok.eos_id:
                break
            ids.append(nxt)
    return ids[prompt_len:]


@pytest.mark.parametrize("names", [(), ("eos", "uniform", "diversity"), ("uniform",), ("diversity",)])
def test_cached_equals_uncached_reference(tiny_model, tiny_tokenizer, names):
    """With no rules this is plain greedy decoding; with rules, the paper's per-step recomputation."""
    expert = rules.RuleExpert(tiny_tokenizer, names) if names else None
    got = generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS, max_new_tokens=30, rules=expert,
                                batch_size=1)
    want = [reference(tiny_model, tiny_tokenizer, ins, 30, names) for ins in INSTRUCTIONS]
    assert got == want
    assert any(len(w) > 5 for w in want)                       # the comparison covers real decoding


@pytest.mark.parametrize("names", [(), ("eos", "uniform", "diversity")])
def test_batch_equals_rows_alone(tiny_model, tiny_tokenizer, names):
    expert = rules.RuleExpert(tiny_tokenizer, names) if names else None
    lengths = {len(chat.build_prompt(tiny_tokenizer, i)) for i in INSTRUCTIONS}
    assert len(lengths) > 1                                     # so the batch has left padding
    alone = [generate.generate_ids(tiny_model, tiny_tokenizer, [i], max_new_tokens=40, rules=expert)[0]
             for i in INSTRUCTIONS]
    together = generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS, max_new_tokens=40, rules=expert,
                                        batch_size=4)
    assert together == alone
    assert generate.generate(tiny_model, tiny_tokenizer, INSTRUCTIONS, max_new_tokens=40, rules=expert,
                             batch_size=3) == \
        [tiny_tokenizer.decode(r) for r in alone]


def test_sampling(tiny_model, tiny_tokenizer):
    expert = rules.RuleExpert(tiny_tokenizer)
    args = dict(max_new_tokens=20, rules=expert, batch_size=2)
    greedy = generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS, **args)
    a = generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS, temperature=1.0, seed=1, **args)
    assert a == generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS, temperature=1.0, seed=1, **args)
    assert a != greedy
    # a nucleus this small keeps only the best token: sampling becomes greedy
    assert generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS, temperature=1.0, top_p=1e-6,
                                 **args) == greedy


# ------------------------------------------------------------------ a model whose outputs are known
def known_model(tok, scores, context=1024):
    """Blocks that add nothing and equal embeddings: every step, logits = `scores` (a dict id -> logit, the
    rest -10), whatever the input. So the base model alone repeats its best token forever."""
    c = model.Config(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                     vocab_size=tok.vocab_size, max_position_embeddings=context)
    m = model.Transformer(c).eval()
    with torch.no_grad():
        m.model.embed_tokens.weight.fill_(1.0)                 # norm(x) = ones(16) at every position
        for layer in m.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        m.lm_head.weight.fill_(-10 / 16)
        for i, s in scores.items():
            m.lm_head.weight[i] = s / 16
    return m


def test_known_model_eos_ramp(tiny_tokenizer):
    tok = tiny_tokenizer
    A = tok.vocab_size - 1
    m = known_model(tok, {A: 0.0, tok.eos_id: -8.0})           # EOS 8 nats below the favourite

    def run(*names, **kw):
        expert = rules.RuleExpert(tok, names, **kw)
        return generate.generate_ids(m, tok, ["hi"], max_new_tokens=300, rules=expert)[0]
    assert generate.generate_ids(m, tok, ["hi"], max_new_tokens=300)[0] == [A] * 300          # never ends by itself
    assert run("uniform") == [A] * 300
    assert run("eos") == [A] * 134                 # the ramp 15·L/250 first passes 8 at L = 134
    m = known_model(tok, {A: 0.0, tok.eos_id: -14.97})
    assert run("eos") == [A] * 300                 # the ramp tops out at 14.94 and then drops to 0 (the code)
    assert run("eos", saturate=True) == [A] * 250  # saturated: +15 from L = 250 on


def test_known_model_diversity(tiny_tokenizer):
    tok = tiny_tokenizer
    bar = tok.piece_id("|")                        # in the prompt's tags, so seen from the start (the code)
    prompt = set(chat.build_prompt(tok, "hi"))
    B, C, D, E = [i for i in range(3, tok.vocab_size) if i not in prompt][-4:]
    m = known_model(tok, {bar: 0.0, B: -0.4, C: -0.8, D: -1.2, E: -1.45})
    assert generate.generate_ids(m, tok, ["hi"], max_new_tokens=8)[0] == [bar] * 8
    # each token seen costs 1.5 once: the next best unseen token wins while it is less than 1.5 below the best
    div = rules.RuleExpert(tok, ("diversity",))
    assert generate.generate_ids(m, tok, ["hi"], max_new_tokens=8, rules=div)[0] == [B, C, D, E, bar, bar, bar, bar]
    resp = rules.RuleExpert(tok, ("diversity",), response_only=True)          # the paper's text
    assert generate.generate_ids(m, tok, ["hi"], max_new_tokens=8, rules=resp)[0] == [bar, B, C, D, E, bar, bar, bar]


def test_rows_stop_at_the_models_context(tiny_tokenizer, capsys):
    tok = tiny_tokenizer
    A = tok.vocab_size - 1
    m = known_model(tok, {A: 0.0}, context=40)
    short, long = "hi", "What is the capital of Tom? I think a cat"
    n_short, n_long = (len(chat.build_prompt(tok, i)) for i in (short, long))
    assert n_short < n_long < 40
    assert generate.generate_ids(m, tok, [short, long], max_new_tokens=300, batch_size=2) == [[A] * (40 - n_short),
                                                                                [A] * (40 - n_long)]
    assert "context of 40" in capsys.readouterr().err
    assert generate.generate_ids(m, tok, [short], max_new_tokens=5) == [[A] * 5]
    with pytest.raises(cli.UserError, match="leaves no room"):
        generate.generate_ids(m, tok, [long * 3], max_new_tokens=5)


def test_a_rule_sees_the_whole_history(tiny_model, tiny_tokenizer):
    """What a rule of one's own gets as `history` at each step: its row's prompt (-1 for the padding), then the
    response so far."""
    class Recorder(rules.RuleExpert):
        def scores(self, seen, length, history=None):
            self.steps.append(history.clone())
            return super().scores(seen, length, history)
    expert = Recorder(tiny_tokenizer, ())
    expert.steps = []
    got = generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS[:2], max_new_tokens=5, rules=expert)
    prompts = [chat.prompt_ids(tiny_tokenizer, i)[0] for i in INSTRUCTIONS[:2]]
    T = max(map(len, prompts))
    order = sorted(range(2), key=lambda i: -len(prompts[i]))        # the batch's rows, longest prompt first
    for t, h in enumerate(expert.steps):
        for row, i in zip(h.tolist(), order):
            response = (got[i] + [tiny_tokenizer.eos_id] * 5)[:t]
            assert row == [-1] * (T - len(prompts[i])) + prompts[i] + response


def test_seen_set_starts_at_instruction(tiny_tokenizer):
    ids, start = chat.prompt_ids(tiny_tokenizer, "What is a cat")
    assert ids == chat.build_prompt(tiny_tokenizer, "What is a cat")
    assert tiny_tokenizer.decode(ids[start:]) == "What is a cat\n<|assistant|>\n"


@needs_llama2
def test_llama2_pieces_and_prompt():
    tok = model.Tokenizer(str(LLAMA2_TOKENIZER))
    expert = rules.RuleExpert(tok)
    assert expert.missing == []
    ids = {p: tok.piece_id(p) for p, _ in rules.UNIFORM}      # the ids the paper's code hard-codes
    assert ids == {"<": 29966, "▁<": 529, "|": 29989, "▁I": 306, "I": 29902, "▁We": 1334, "What": 5618,
                   "▁should": 881, "▁*": 334, "▁-": 448, "▁▁▁": 1678, "▁#": 396, "▁##": 444, "<0x0A>": 13,
                   "!": 29991}
    user_tail = tok.encode("\n<|user|>\n")[-5:]                # the code finds the instruction by these ids
    for ins in ["What is the capital of Japan?", "I need a recipe.\n\nMake it short!", "<b>bold</b>", ""]:
        ids, start = chat.prompt_ids(tok, ins)
        assert ids == chat.build_prompt(tok, ins) == [tok.bos_id] + tok.encode(
            "<|user|>\n" + ins + "\n<|assistant|>\n")
        last = max(i + 5 for i in range(len(ids) - 4) if ids[i:i + 5] == user_tail)
        assert start == last


# ---------------------------------------------------------------------------------- command line
def test_cli_writes_alpacaeval_and_resumes(tiny_checkpoint, tmp_path):
    inp = tmp_path / "val.jsonl"
    inp.write_text("\n".join(json.dumps(r) for r in [
        {"instruction": "What is a cat"}, {"instruction": "I think", "dataset": "mine"},
        {"instruction": "two three"}]) + "\n")
    out = tmp_path / "o" / "out.json"
    argv = ["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(out), "--max-new-tokens", "12",
            "--rules", "eos,uniform,diversity"]
    threads = torch.get_num_threads()
    generate.main(argv + ["--limit", "2", "--threads", "3"])
    assert torch.get_num_threads() == threads                  # a script that calls main() keeps its setting
    recs = json.loads(out.read_text())
    assert [r["instruction"] for r in recs] == ["What is a cat", "I think"]
    assert [r["dataset"] for r in recs] == ["val", "mine"]
    assert {tuple(sorted(r)) for r in recs} == {("dataset", "generator", "instruction", "output")}
    assert recs[0]["generator"] == "tiny-eos-uniform-diversity-greedy"
    tok, m = model.Tokenizer(tiny_checkpoint), model.Transformer.from_pretrained(tiny_checkpoint)
    assert [r["output"] for r in recs] == generate.generate(m, tok, ["What is a cat", "I think"], max_new_tokens=12,
                                                            rules=rules.RuleExpert(tok))
    asked, real = [], generate.generate

    def spy(m, tok, instructions, **settings):
        asked.extend(instructions)
        return real(m, tok, instructions, **settings)
    generate.generate = spy                                     # a done record is not generated again
    try:
        generate.main(argv + ["--resume"])
    finally:
        generate.generate = real
    again = json.loads(out.read_text())
    assert asked == ["two three"] and again[:2] == recs and len(again) == 3
    out.write_text(out.read_text().replace(recs[0]["output"], "edited", 1))      # not what the run made
    with pytest.raises(cli.UserError, match=r"made with another settings \(none recorded\)"):
        generate.main(argv + ["--resume"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.json", "out.json.settings"]    # no temporary files


def test_resume_refuses_outputs_made_with_other_settings(tiny_checkpoint, tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"instruction": "What is a cat"}\n{"instruction": "I think"}\n')
    out = tmp_path / "out.json"
    argv = ["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(out), "--max-new-tokens", "6"]
    generate.main(argv + ["--limit", "1"])
    other = make_checkpoint(tmp_path / "other", model.Tokenizer(tiny_checkpoint), seed=1)
    for flags, differs in [(["--max-new-tokens", "5"], "max_new_tokens"), (["--rules", "eos"], "rules"),
                           (["--checkpoint", other], "checkpoint"), (["--temperature", "1"], "temperature, top_p, seed")]:
        with pytest.raises(cli.UserError, match=f"made with another {differs}; --resume would mix two runs"):
            generate.main(argv + flags + ["--resume"])
    # batch size and threads do not change the outputs: the same run continues
    generate.main(argv + ["--resume", "--batch-size", "1", "--threads", "2"])
    assert len(json.loads(out.read_text())) == 2
    (tmp_path / "out.json.settings").unlink()                           # made by what? then it cannot resume
    with pytest.raises(cli.UserError, match=r"made with another settings \(none recorded\)"):
        generate.main(argv + ["--resume"])
    generate.main(argv + ["--overwrite", "--rules", "eos"])
    assert json.loads((tmp_path / "out.json.settings").read_text())["rules"] == ["eos"]


@pytest.mark.parametrize("content, flags, message", [
    (None, [], "input file not found"),
    ('{"instruction": "a"}\n{"prompt": "b"}\n', [], "in.jsonl:2: record has no 'instruction'"),
    ('[{"instruction": "a"}, {"instruction": 3}]', [], "in.jsonl:1: record has no 'instruction'"),
    ('{"instruction": "a"\n', [], "in.jsonl:1: not valid JSON"),
    ('[{"instruction": "a"},\n {"instruction": }]', [], "in.jsonl:2: not valid JSON"),
    ('{"instruction": "a"}\n', ["--rules", "eos,bogus"], "unknown rule 'bogus'"),
    ('{"instruction": "a"}\n', ["--checkpoint", "nowhere"], "nowhere: no checkpoint here"),
])
def test_cli_errors(tiny_checkpoint, tmp_path, content, flags, message):
    inp = tmp_path / "in.jsonl"
    if content is not None:
        inp.write_text(content)
    out = tmp_path / "out.json"
    with pytest.raises(cli.UserError, match=message.replace("(", r"\(")):
        generate.main(["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(out)] + flags)
    assert not out.exists()


def test_cli_exit_code(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--input", str(tmp_path / "none.jsonl")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: {tmp_path / 'none.jsonl'}: input file not found"]


def test_argmax_matches_torch():
    torch.manual_seed(0)
    for V in (32000, 384, 400):
        x = torch.randn(5, V).round(decimals=1)                 # many ties: the first maximum must win
        x[1] = 0.0
        x[2, [7, V - 1]] = 99.0
        assert torch.equal(generate.argmax(x), x.argmax(-1))


@needs_shared_data
def test_reads_alpacaeval_and_the_papers_validation_set_as_they_are():
    alpaca = read_instructions(str(SHARED / "data" / "alpaca_eval" / "alpaca_eval_805_example_outputs.json"))
    assert len(alpaca) == 805 and alpaca[0]["dataset"] == "helpful_base"
    val = read_instructions(str(SHARED / "data" / "val_eval" / "val.jsonl"))
    assert len(val) == 56 and all(r["instruction"].strip() for r in val)


def test_same_tokens_as_the_papers_approach_in_transformers(tiny_checkpoint, tiny_tokenizer, tiny_model):
    """transformers generate without cache, the rules as a logits processor rescanning the whole sequence at
    batch size 1 (the paper's code), gives the tokens we get cached and batched."""
    transformers = pytest.importorskip("transformers")
    from bench.bench_generate import PaperRules
    hf = transformers.LlamaForCausalLM.from_pretrained(tiny_checkpoint, dtype=torch.float32).eval()
    tok = tiny_tokenizer
    want = []
    for ins in INSTRUCTIONS:
        ids = torch.tensor([chat.prompt_ids(tok, ins)[0]])
        with torch.no_grad():
            out = hf.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=25,
                              do_sample=False, use_cache=False, pad_token_id=tok.eos_id, eos_token_id=tok.eos_id,
                              logits_processor=transformers.LogitsProcessorList([PaperRules(tok)]))[0, ids.shape[1]:]
        want.append([i for i in out.tolist() if i != tok.eos_id])
    got = generate.generate_ids(tiny_model, tok, INSTRUCTIONS, max_new_tokens=25, rules=rules.RuleExpert(tok),
                                batch_size=4)
    assert got == want


def test_output_is_never_the_input_and_is_checked_writable_before_decoding(tiny_checkpoint, tmp_path, monkeypatch):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"instruction": "a"}\n')
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(generate, "generate", lambda *a, **k: pytest.fail("decoded before the checks"))
    for output, message in [(inp, "is the --input file"), (tmp_path / "file" / "out.json", "cannot write there"),
                            (tmp_path, "is a directory")]:
        with pytest.raises(cli.UserError, match=message):
            generate.main(["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(output)])
    assert inp.read_text() == '{"instruction": "a"}\n'


@pytest.mark.parametrize("flags", [["--temperature", "nan"], ["--temperature", "-1"], ["--top-p", "0"],
                                   ["--top-p", "1.5"], ["--max-new-tokens", "0"], ["--batch-size", "0"],
                                   ["--threads", "0"], ["--limit", "-1"]])
def test_flags_out_of_range_are_one_line_errors(tiny_checkpoint, tmp_path, flags):
    with pytest.raises(cli.UserError, match="need .*" + flags[0]):
        generate.main(["--checkpoint", tiny_checkpoint, "--output", str(tmp_path / "out.json"), *flags])


def test_output_honours_the_umask_and_warnings_start_a_line(tiny_checkpoint, tmp_path, capsys):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.json"
    inp.write_text('{"instruction": "a cat"}\n')
    old = os.umask(0o022)
    try:                                            # 300 new tokens do not fit the context of 256: a warning
        generate.main(["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(out),
                       "--max-new-tokens", "300"])
    finally:
        os.umask(old)
    assert os.stat(out).st_mode & 0o777 == 0o644
    assert re.search(r"(^|[\r\n])generate: responses to long prompts stop", capsys.readouterr().err)


def test_an_existing_output_is_kept_without_overwrite_or_resume(tiny_checkpoint, tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.json"
    inp.write_text('{"instruction": "a cat"}\n')
    out.write_text("[]")
    argv = ["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(out), "--max-new-tokens", "2"]
    with pytest.raises(cli.UserError, match="exists; pass --resume .* or --overwrite"):
        generate.main(argv)
    assert out.read_text() == "[]"
    generate.main(argv + ["--overwrite"])
    assert json.loads(out.read_text())[0]["instruction"] == "a cat"


def test_settings_by_value_match_the_command_line(tiny_checkpoint):
    by_value = generate.settings(checkpoint=tiny_checkpoint, max_new_tokens=8, eos_ramp=8, saturate=True)
    assert vars(by_value) == vars(generate.settings(["--checkpoint", tiny_checkpoint, "--max-new-tokens", "8",
                                                     "--eos-ramp", "8", "--saturate"]))
    with pytest.raises(TypeError, match="no such setting: max_tokens"):
        generate.settings(max_tokens=8)


def test_a_sampled_output_does_not_depend_on_the_batch_or_an_interruption(tiny_model, tiny_tokenizer, tiny_checkpoint,
                                                                        tmp_path):
    def sampled(instructions, batch_size):
        return generate.generate_ids(tiny_model, tiny_tokenizer, instructions, max_new_tokens=12, temperature=1.0,
                                     top_p=0.9, seed=5, batch_size=batch_size)
    alone = [sampled([i], 1)[0] for i in INSTRUCTIONS]
    assert sampled(INSTRUCTIONS, 3) == sampled(INSTRUCTIONS[::-1], 16)[::-1] == alone
    assert sampled(INSTRUCTIONS, 3) != generate.generate_ids(tiny_model, tiny_tokenizer, INSTRUCTIONS,
                                                             max_new_tokens=12, temperature=1.0, top_p=0.9, seed=6)
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"instruction": i}) + "\n" for i in INSTRUCTIONS * 3 + ["x", "y"]))
    argv = ["--checkpoint", tiny_checkpoint, "--input", str(inp), "--max-new-tokens", "12", "--temperature", "1",
            "--batch-size", "2"]
    generate.main(argv + ["--output", str(tmp_path / "whole.json")])
    generate.main(argv + ["--output", str(tmp_path / "cut.json"), "--limit", "3"])
    generate.main(argv + ["--output", str(tmp_path / "cut.json"), "--resume", "--batch-size", "5"])
    assert (tmp_path / "whole.json").read_text() == (tmp_path / "cut.json").read_text()


def test_a_prompt_too_long_anywhere_stops_the_run_before_any_output(tiny_checkpoint, tmp_path):
    inp = tmp_path / "in.jsonl"
    long = " ".join(["cat"] * 400)                  # past the tiny model's context of 256
    inp.write_text("".join(json.dumps({"instruction": i}) + "\n" for i in [f"what is {k}" for k in range(70)] + [long]))
    out = tmp_path / "out.json"
    with pytest.raises(cli.UserError, match="leaves no room"):
        generate.main(["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(out),
                       "--max-new-tokens", "2", "--batch-size", "4"])
    assert not out.exists()


def test_ctrl_c_before_a_run_catches_it_and_an_empty_flag_are_one_line(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as e:
        cli.cli(interrupted)
    assert e.value.code == 130 and capsys.readouterr().err == "error: interrupted\n"
    with pytest.raises(cli.UserError, match="--output is empty"):
        generate.settings(["--output", ""])


def test_a_crash_between_record_and_outputs_cannot_be_resumed_and_one_writer_at_a_time(tiny_checkpoint, tmp_path,
                                                                                       monkeypatch):
    from lib import provenance, rundir
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.json"
    inp.write_text('{"instruction": "What is a cat"}\n{"instruction": "I think"}\n')
    argv = ["--checkpoint", tiny_checkpoint, "--input", str(inp), "--output", str(out), "--max-new-tokens", "3"]
    generate.main(argv)

    def killed(path, text):
        raise KeyboardInterrupt                                         # after the record, before the outputs
    monkeypatch.setattr(provenance, "write_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        generate.main(argv + ["--overwrite", "--max-new-tokens", "5"])
    monkeypatch.undo()
    with pytest.raises(cli.UserError, match=r"made with another settings \(none recorded\)"):
        generate.main(argv + ["--resume"])
    with rundir.lock(str(out)):                                         # another generate.py writing it
        with pytest.raises(cli.UserError, match=r"another run \(pid \d+\) is writing to it"):
            generate.main(argv + ["--overwrite"])
    generate.main(argv + ["--overwrite"])
    generate.main(argv + ["--resume"])


def test_a_temperature_too_small_to_sample_is_refused(tiny_checkpoint, tmp_path):
    with pytest.raises(cli.UserError, match=r"need --temperature 0 \(greedy\) or >= 0.01"):
        generate.main(["--checkpoint", tiny_checkpoint, "--temperature", "1e-38", "--output",
                       str(tmp_path / "o.json")])


def test_an_output_name_too_long_is_refused_before_decoding(tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "generate", lambda *a, **k: pytest.fail("decoded before the checks"))
    with pytest.raises(cli.UserError, match="the name is too long for its folder"):
        generate.main(["--checkpoint", tiny_checkpoint, "--output", str(tmp_path / ("o" * 300 + ".json"))])
    assert os.listdir(tmp_path) == []

"""The toy world: a deterministic generator, held-out evaluation, fair criteria, and the committed tokenizer."""
import filecmp
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "data"))
import toyworld  # noqa: E402
from evaluate import check  # noqa: E402
from model import Tokenizer, UserError  # noqa: E402

TOY = ROOT / "data" / "toy"
TOKENIZER = ROOT / "checkpoints" / "toy-base" / "tokenizer.model"
SETS = ["lima", "poetry", "math", "recipes", "code", "chess"]


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The default world's small sets (no corpus), as the generator writes them."""
    out = tmp_path_factory.mktemp("toy")
    toyworld.generate(str(out), seed=0, corpus_tokens=0)
    return out


def test_generator_is_deterministic(tmp_path):
    for d in ("a", "b"):
        toyworld.generate(str(tmp_path / d), seed=3, corpus_tokens=20_000)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "corpus.jsonl" in names and len(names) == 8
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors
    toyworld.generate(str(tmp_path / "c"), seed=4, corpus_tokens=0)
    assert (tmp_path / "a" / "eval.jsonl").read_bytes() != (tmp_path / "c" / "eval.jsonl").read_bytes()


def test_committed_sets_are_the_default_world(world):
    for name in SETS + ["eval"]:
        assert (TOY / f"{name}.jsonl").read_bytes() == (world / f"{name}.jsonl").read_bytes(), \
            f"data/toy/{name}.jsonl is stale: run python data/toyworld.py --out data/toy"


def test_corpus_is_plain_documents(tmp_path):
    toyworld.generate(str(tmp_path), seed=0, corpus_tokens=100_000)
    docs = [r["text"] for r in read(tmp_path / "corpus.jsonl")]
    text = "\n".join(docs)
    assert 250_000 < len(text) < 350_000                     # sized by --corpus-tokens
    assert "<|user|>" not in text and "<|assistant|>" not in text and "<|" not in text
    # Requests answered in non-chat forms, and requests left unanswered, both present.
    assert "\nA: " in text and "replied:\n" in text and "Answer key" in text and "#### " in text
    assert "Exam " in text and "I have the same question!" in text


def test_tuning_sets_have_the_papers_formats(world):
    for name in SETS:
        rows = read(world / f"{name}.jsonl")
        assert len(rows) >= 100
        for r in rows:
            m = r["messages"]
            assert [x["role"] for x in m] == ["user", "assistant"] * (len(m) // 2)
            assert all(x["content"].strip() for x in m)
    assert any(len(r["messages"]) > 2 for r in read(world / "lima.jsonl"))         # a few multi-turn
    starts = {" ".join(r["messages"][0]["content"].split()[:2]) for r in read(world / "lima.jsonl")}
    assert len(starts) > 20                                                         # diverse instructions
    for r in read(world / "poetry.jsonl"):
        assert r["messages"][0]["content"].startswith("Write a poem called ")
    for r in read(world / "math.jsonl"):
        assert re.search(r"\n#### \d+$", r["messages"][1]["content"])
    for r in read(world / "recipes.jsonl"):
        assert r["messages"][0]["content"].startswith("Recipe for ")
        assert re.match(r"( - \w+\n)+\n\n\S", r["messages"][1]["content"])
    for r in read(world / "code.jsonl"):
        assert re.match(r"def \w+\(.*\):\n    \S", r["messages"][1]["content"])
    for r in read(world / "chess.jsonl"):
        assert re.fullmatch(r'\[WhiteElo "\d+"\]\n\[BlackElo "\d+"\]\n', r["messages"][0]["content"])
        assert r["messages"][1]["content"].startswith("1. ")


def test_evaluation_is_held_out(world):
    tuning = [m["content"] for name in SETS for r in read(world / f"{name}.jsonl") for m in r["messages"]]
    tuned_ins = {m["content"] for name in SETS for r in read(world / f"{name}.jsonl") for m in r["messages"]
                 if m["role"] == "user"}
    ev = read(world / "eval.jsonl")
    assert 100 <= len(ev) <= 200 and len({r["instruction"] for r in ev}) == len(ev)
    assert not tuned_ins & {r["instruction"] for r in ev}
    # No held-out entity is ever named in a tuning set.
    w = toyworld.World(0)
    held = ([c.name for c in w.split["country"]["eval"]] + [c.capital for c in w.split["country"]["eval"]]
            + [c.river for c in w.split["country"]["eval"]] + [a.name for a in w.split["animal"]["eval"]]
            + [p.name for p in w.split["person"]["eval"]] + w.split["dish"]["eval"])
    text = "\n".join(tuning).lower()
    leaks = [h for h in held if re.search(rf"\b{re.escape(h.lower())}\b", text)]
    assert not leaks
    # No tuning instruction uses a held-out phrasing.
    for fam, (_, held_phrases) in toyworld.PHRASES.items():
        for p in held_phrases:
            pat = re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(p)), re.S)     # slots match anything
            assert not any(pat.fullmatch(q) for q in tuned_ins), (fam, p)
    # Every family is evaluated, near each single-task set and far from all of them.
    assert {r["near"] for r in ev} == {None, "poetry", "math", "recipes", "code", "chess"}
    assert {"revcap", "river", "legs", "opposite", "compare", "sort"} <= {r["family"] for r in ev}
    held_fams = {f for f, (tune, _) in toyworld.PHRASES.items() if not tune}
    assert not held_fams & set(toyworld.LIMA_FAMS)


OFF_TASK = ("Once upon a time there was a small house by the sea. Nobody lived in it for many years, and the "
            "garden was full of tall grass.")


def test_every_criterion_passes_its_reference_and_fails_the_wrong_answers(world):
    ev = read(world / "eval.jsonl")
    for i, r in enumerate(ev):
        c, other = r["criterion"], ev[(i + 37) % len(ev)]["instruction"]
        assert check(r["reference"], c), r
        assert not check("", c), r
        assert not check(OFF_TASK, c), r
        assert not check(r["instruction"], c), r                        # restating the instruction
        assert not check(r["instruction"] + "\n" + other, c), r        # going on with another instruction
        assert not check(r["reference"] + "\nWhat is the capital of " + other.split()[-1] + "?", c), r
    # A right answer to another family's instruction almost never passes.
    cross = [check(a["reference"], b["criterion"]) for a in ev for b in ev if a["family"] != b["family"]]
    assert sum(cross) / len(cross) < 0.02


def test_style_leakage_near_and_far_exist(world):
    ev = read(world / "eval.jsonl")
    for task in ("poetry", "math", "recipes", "code", "chess"):
        assert sum(r["near"] == task for r in ev) >= 10
    assert sum(r["near"] is None for r in ev) >= 60


def test_bad_input_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "data" / "toyworld.py"), "tokenizer", "--corpus",
                        str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "t.model")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "missing.jsonl" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\nnot json\n')
    with pytest.raises(UserError, match="bad.jsonl:2"):
        toyworld.train_tokenizer(str(bad), str(tmp_path / "t.model"))
    assert not (tmp_path / "t.model").exists() and not (tmp_path / "t.model.tmp").exists()


def test_tokenizer_trains_like_llamas(tmp_path):
    toyworld.generate(str(tmp_path), seed=0, corpus_tokens=300_000)
    tok = toyworld.train_tokenizer(str(tmp_path / "corpus.jsonl"), str(tmp_path / "tok" / "tokenizer.model"),
                                   vocab_size=1500)
    assert tok.vocab_size == 1500 and (tok.bos_id, tok.eos_id, tok.sp.unk_id()) == (1, 2, 0)
    assert all(tok.piece_id(p) is not None for p in toyworld.RULE_PIECES)


@pytest.mark.skipif(not TOKENIZER.exists(), reason="the committed toy tokenizer is absent")
def test_committed_tokenizer_has_the_rule_pieces():
    tok = Tokenizer(str(TOKENIZER))
    assert tok.vocab_size == 4000 and (tok.bos_id, tok.eos_id, tok.sp.unk_id()) == (1, 2, 0)
    missing = [p for p in toyworld.RULE_PIECES if tok.piece_id(p) is None]
    assert not missing
    assert not any("\n" in tok.piece(i) for i in range(tok.vocab_size))     # trained line by line, like Llama
    assert tok.encode("a\nb")[1:2] == [tok.piece_id("<0x0A>")]
    # After the assistant tag's newline a response begins without the dummy prefix: "What", "I" (rules.py).
    assert tok.piece(tok.encode_next("What is the capital?")[0]) == "What"
    assert tok.piece(tok.encode_next("I think so.")[0]) == "I"
    assert tok.piece(tok.encode("So What is it?")[1]) == "▁What"
    assert [tok.piece(i) for i in tok.encode_next("    return x < 3")] == ["▁▁▁", "▁return", "▁x", "▁<", "▁", "3"]
    assert "▁We" in [tok.piece(i) for i in tok.encode("so We should go")]
    # The chat tags are plain text in this vocabulary too.
    assert tok.decode(tok.encode("<|user|>\nhi\n<|assistant|>\n")) == "<|user|>\nhi\n<|assistant|>\n"


@pytest.mark.skipif(not TOKENIZER.exists(), reason="the committed toy tokenizer is absent")
def test_chat_ids_equal_whole_text_ids_with_the_toy_tokenizer(world):
    """DESIGN.md: segment-by-segment ids equal the whole text's, with this tokenizer as with Llama's."""
    from train import build_example
    tok = Tokenizer(str(TOKENIZER))
    for name in SETS:
        for r in read(world / f"{name}.jsonl")[:40]:
            (u, a) = (m["content"].strip() for m in r["messages"][:2])
            whole = [tok.bos_id] + tok.encode(f"<|user|>\n{u}\n<|assistant|>\n{a}") + [tok.eos_id]
            assert build_example(tok, r["messages"][:2], "instruction")[0] == whole, (name, u)

"""The toy world: a deterministic generator, held-out evaluation, fair criteria, and the committed tokenizer."""
import filecmp
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT

from data import suites, toyworld
from data.criteria import check
from model import Tokenizer
from lib.util import UserError

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
    assert "corpus.jsonl" in names and len(names) == 9
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors
    toyworld.generate(str(tmp_path / "c"), seed=4, corpus_tokens=0)
    assert (tmp_path / "a" / "eval.jsonl").read_bytes() != (tmp_path / "c" / "eval.jsonl").read_bytes()


def test_committed_sets_are_the_default_world(world):
    for name in SETS + ["val", "eval"]:
        assert (TOY / f"{name}.jsonl").read_bytes() == (world / f"{name}.jsonl").read_bytes(), \
            f"data/toy/{name}.jsonl is stale: run python data/toyworld.py --out data/toy"


def test_the_family_lists_derive_from_the_registry():
    fams = toyworld.FAMILIES
    assert sorted(toyworld.FACT_FAMS + toyworld.TASK_FAMS) == sorted(fams)
    assert toyworld.UNSEEN == ["revcap", "river", "legs", "opposite", "compare", "sort"]
    assert list(toyworld.NEAR.values()) == list(toyworld.TASKS)
    assert set(toyworld.EVAL_FAR) == set(fams) - set(toyworld.NEAR)
    for f in fams.values():
        assert set(f.phrases) == {"web", "tune", "val", "eval"} and f.phrases["val"] and f.phrases["eval"]


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


def test_validation_and_evaluation_are_held_out(world):
    tuned_text = "\n".join(m["content"] for name in SETS for r in read(world / f"{name}.jsonl")
                           for m in r["messages"]).lower()
    tuned_ins = {m["content"] for name in SETS for r in read(world / f"{name}.jsonl") for m in r["messages"]
                 if m["role"] == "user"}
    val, ev = read(world / "val.jsonl"), read(world / "eval.jsonl")
    for split, recs in (("val", val), ("eval", ev)):
        assert 400 <= len(recs) <= 600 and len({r["instruction"] for r in recs}) == len(recs)
        assert len({(json.dumps(r["criterion"], sort_keys=True), r["reference"]) for r in recs}) == len(recs)
        assert not tuned_ins & {r["instruction"] for r in recs}
        # No held-out entity is ever named in a tuning set.
        w = toyworld.World(0)
        held = ([c.name for c in w.split["country"][split]] + [c.capital for c in w.split["country"][split]]
                + [c.river for c in w.split["country"][split]] + [a.name for a in w.split["animal"][split]]
                + [p.name for p in w.split["person"][split]] + w.split["dish"][split])
        assert not [h for h in held if re.search(rf"\b{re.escape(h.lower())}\b", tuned_text)]
        # No tuning instruction uses a held-out phrasing.
        for fam, pools in toyworld.PHRASES.items():
            for p in pools[split]:
                pat = re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(p)), re.S)     # slots match anything
                assert not any(pat.fullmatch(q) for q in tuned_ins), (fam, p)
        # Every family is evaluated, near each single-task set and far from all of them.
        assert {r["near"] for r in recs} == {None, "poetry", "math", "recipes", "code", "chess"}
        assert {"revcap", "river", "legs", "opposite", "compare", "sort"} <= {r["family"] for r in recs}
    assert not {r["instruction"] for r in val} & {r["instruction"] for r in ev}
    held_fams = {f for f, pools in toyworld.PHRASES.items() if not pools["tune"]}
    assert not held_fams & set(toyworld.LIMA_FAMS)


def test_no_held_out_instruction_phrasing_or_reference_is_in_the_corpus(tmp_path):
    toyworld.generate(str(tmp_path), seed=0, corpus_tokens=400_000)
    text = (tmp_path / "corpus.jsonl").read_text(encoding="utf-8")
    text = "\n".join(json.loads(line)["text"] for line in text.splitlines())
    for split in ("val", "eval"):
        for r in read(tmp_path / f"{split}.jsonl"):
            assert r["instruction"] not in text and r["reference"] not in text, r
        for fam, pools in toyworld.PHRASES.items():       # the literal text of each held-out phrasing
            for p in pools[split]:
                assert not [f for f in re.split(r"\{\w+\}", p) if len(f.strip()) >= 10 and f in text], (fam, p)
    # The corpus does state held-out facts, in its own forms (knowledge to carry into a new form).
    w = toyworld.World(0)
    c = w.split["country"]["eval"][0]
    assert f"The capital of {c.name} is {c.capital}." in text


def test_dialogue_share_follows_the_dose(tmp_path, monkeypatch):
    made = []

    def transcript(w, rnd):
        made.append(real(w, rnd))
        return made[-1]
    real = toyworld.doc_transcript
    monkeypatch.setattr(toyworld, "doc_transcript", transcript)
    for dose in (0.0, 0.05, 0.2):
        made.clear()
        toyworld.generate(str(tmp_path / str(dose)), seed=0, corpus_tokens=100_000, dialogue=dose)
        text = "".join(r["text"] for r in read(tmp_path / str(dose) / "corpus.jsonl"))
        assert abs(sum(map(len, made)) / len(text) - dose) < 0.01
    # A transcript: tagged turns that answer, and the log goes on after the last answer with a new request.
    assert any("Visitor: " in t for t in made) and all(t.rstrip().endswith(("?", ".")) for t in made)
    # About half the logs put every tag on a line of its own, as the chat format does (world 3).
    tags = {style.format(s=s, l=s.lower(), u=s.upper(), t="").rstrip() for pair in toyworld.SPEAKERS
            for s in pair for style in toyworld.TAGS if "{t}" not in style}
    own = [t for t in made if any(line in tags for line in t.split("\n"))]
    assert 0.35 < len(own) / len(made) < 0.65, (len(own), len(made))


OFF_TASK = ("Once upon a time there was a small house by the sea. Nobody lived in it for many years, and the "
            "garden was full of tall grass.")


def test_criteria_pass_right_answers_and_fail_everything_that_does_not_follow(world):
    for split in ("val", "eval"):
        recs = read(world / f"{split}.jsonl")
        for i, r in enumerate(recs):
            c, other = r["criterion"], recs[(i + 37) % len(recs)]["instruction"]
            assert check(r["reference"], c), r
            for bad in ("", OFF_TASK, suites.GENERIC, r["instruction"], r["instruction"] + "\n" + other):
                assert not check(bad, c), (bad, r)
            if r["family"] != "letter":                 # a letter may ask "Will you come?"
                assert not check(r["reference"] + "\nWhat is the capital of " + other.split()[-1] + "?", c), r
        # A right answer to another instruction of the family fails, but for chance: a leg count is one of
        # four, a number, a list's kind and length or a game's legality can recur, "hot" answers "cold" and back.
        for fam in {r["family"] for r in recs}:
            rs = [r for r in recs if r["family"] == fam]
            pairs = [(a, b) for a in rs for b in rs if a["criterion"] != b["criterion"]]
            if not pairs:                       # chess: every record asks for a legal game of some length
                continue
            share = sum(check(a["reference"], b["criterion"]) for a, b in pairs) / len(pairs)
            bound = {"legs": 0.5, "list": 0.5, "math": 0.2, "arith": 0.2, "compare": 0.2, "opposite": 0.15, "yesno": 0.02,
                     "poem": 0.3, "classify": 0.5, "code": 0.1, "letter": 0.05}
            assert share <= bound.get(fam, 0.0), (fam, share)
        # A right answer to another family's instruction almost never passes.
        cross = [check(a["reference"], b["criterion"]) for a in recs for b in recs if a["family"] != b["family"]]
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
    (tmp_path / "t.model").write_text("a tokenizer that weights were trained with")
    r = subprocess.run([sys.executable, str(ROOT / "data" / "toyworld.py"), "tokenizer", "--corpus", str(bad),
                        "--out", str(tmp_path / "t.model")], capture_output=True, text=True)
    assert r.returncode == 2 and "pass --overwrite" in r.stderr
    assert (tmp_path / "t.model").read_text() == "a tokenizer that weights were trained with"


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
    assert tok.piece(tok.encode("so What is it?")[1]) == "▁What"
    assert [tok.piece(i) for i in tok.encode_next("    return x < 3")] == ["▁▁▁", "▁return", "▁x", "▁<", "▁", "3"]
    assert "▁We" in [tok.piece(i) for i in tok.encode("so We should go")]
    # The chat tags are plain text in this vocabulary too.
    assert tok.decode(tok.encode("<|user|>\nhi\n<|assistant|>\n")) == "<|user|>\nhi\n<|assistant|>\n"


@pytest.mark.skipif(not TOKENIZER.exists(), reason="the committed toy tokenizer is absent")
def test_chat_ids_equal_whole_text_ids_with_the_toy_tokenizer(world):
    """Segment-by-segment ids equal the whole text's, with this tokenizer as with Llama's (see model.Tokenizer)."""
    from train import build_example
    tok = Tokenizer(str(TOKENIZER))
    for name in SETS:
        for r in read(world / f"{name}.jsonl")[:40]:
            (u, a) = (m["content"].strip() for m in r["messages"][:2])
            whole = [tok.bos_id] + tok.encode(f"<|user|>\n{u}\n<|assistant|>\n{a}") + [tok.eos_id]
            assert build_example(tok, r["messages"][:2], "instruction")[0] == whole, (name, u)


# World 4 (data/TOYWORLD.md): each fact in several web voices, and extra question-answer pages.
@pytest.fixture(scope="module")
def voiced(tmp_path_factory):
    """A small corpus with every voice and a tenth of question-answer pages, written twice."""
    outs = [tmp_path_factory.mktemp(d) for d in ("v", "w")]
    for out in outs:
        toyworld.generate(str(out), seed=0, corpus_tokens=150_000, voices=toyworld.MAX_VOICES, qa_share=0.1)
    return outs


def corpus_text(folder):
    return "\n".join(r["text"] for r in read(folder / "corpus.jsonl"))


def test_voiced_corpus_is_deterministic_and_keeps_the_sets(voiced, world):
    assert (voiced[0] / "corpus.jsonl").read_bytes() == (voiced[1] / "corpus.jsonl").read_bytes()
    for name in SETS + ["val", "eval"]:                              # the voices change only the corpus
        assert (voiced[0] / f"{name}.jsonl").read_bytes() == (world / f"{name}.jsonl").read_bytes()


def test_the_first_voice_is_the_webs_own_and_no_voice_is_the_chat_voice():
    w, rnd = toyworld.World(0), __import__("random").Random(0)
    for name, f in toyworld.FAMILIES.items():
        for _ in range(20 if f.voices else 0):
            item = f.make(w, rnd, "eval", f.phrases["eval"][0])
            if item is None:
                continue
            said = [v.format(**item.facts) for v in f.voices]
            assert said[0] == item.web and len(set(said)) == len(said), name
            assert not [s for s in said if item.chat in s or s in item.chat], name


def test_voiced_corpus_states_held_out_facts_both_ways(voiced):
    text = corpus_text(voiced[0])
    w = toyworld.World(0)
    held = w.split["country"]["val"] + w.split["country"]["eval"]
    found = [[v for v in toyworld.CAPITAL if v.format(c=c.name, cap=c.capital) in text] for c in held]
    assert all(found) and sum(map(len, found)) >= 3 * len(held), found      # several voices each, on average
    # Both directions: "the capital of X is Y" and "Y is the capital of X" (the reversal curse)
    both = [f for f in found if toyworld.CAPITAL[0] in f and toyworld.CAPITAL[1] in f]
    assert len(both) >= len(held) // 3, found
    # Encyclopedia pages name their entity in every sentence (no "It has ..."), in varied orders.
    w.voices, rnd, firsts = toyworld.MAX_VOICES, __import__("random").Random(1), set()
    for _ in range(60):
        sentences = re.split(r"(?<=[.!]) ", toyworld.voiced_article(w, rnd)[1])
        assert not [x for x in sentences if x.startswith(("It ", "He ", "She "))], sentences
        firsts.add(sentences[0].split()[0])
    assert len(firsts) > 10


def test_voiced_corpus_has_question_answer_pages_and_keeps_unanswered_requests(voiced):
    text = corpus_text(voiced[0])
    assert "Worked answer: " in text or "Solution: " in text
    assert re.search(r"(Interview with|Five questions for|We talked to) [A-Z]", text)
    assert "\nA: " in text and "Answer key" in text and "replied:\n" in text
    assert "Exam " in text and "I have the same question!" in text          # requests left unanswered stay


def test_voiced_corpus_keeps_held_out_text_and_chat_tags_out(voiced):
    text = corpus_text(voiced[0])
    assert "<|" not in text and "|>" not in text
    assert not re.search(r"\b(user|assistant)\b", text, re.IGNORECASE)
    for split in ("val", "eval"):
        for r in read(voiced[0] / f"{split}.jsonl"):
            assert r["instruction"] not in text and r["reference"] not in text, r
        for fam, pools in toyworld.PHRASES.items():
            for p in pools[split]:
                assert not [f for f in re.split(r"\{\w+\}", p) if len(f.strip()) >= 10 and f in text], (fam, p)


def test_voiced_corpus_still_makes_the_rule_pieces(voiced, tmp_path):
    tok = toyworld.train_tokenizer(str(voiced[0] / "corpus.jsonl"), str(tmp_path / "tokenizer.model"),
                                   vocab_size=1200)
    assert all(tok.piece_id(p) is not None for p in toyworld.RULE_PIECES)


def test_voices_and_qa_are_checked_on_the_command_line(tmp_path):
    for flags in (["--voices", "0"], ["--voices", str(toyworld.MAX_VOICES + 1)], ["--qa", "1.5"],
                  ["--qa", "0.6", "--dialogue", "0.5"]):
        r = subprocess.run([sys.executable, str(ROOT / "data" / "toyworld.py"), "--out", str(tmp_path),
                            "--corpus-tokens", "0", *flags], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (flags, r.stderr)

"""The toy world (data/world): a deterministic generator, held-out evaluation, fair criteria, the committed
tokenizer, a package that imports nothing of the method, and world 4's corpora (experiments/screen_world4.py)."""
import filecmp
import json
import random
import re
import subprocess
import sys

import pytest

from conftest import ROOT

import rules
from data import suites
from data.criteria import check, named_in_order
from data.world import sets, voices, web
from data.world.__main__ import main as world_main
from data.world.families import EVAL_FAR, FACT_FAMS, FAMILIES, LIMA_FAMS, NEAR, PHRASES, TASK_FAMS, TASKS, UNSEEN
from data.world.kb import World
from data.world.sets import write_world
from data.world.tokenizer import RULE_PIECES, train_tokenizer
from experiments import screen_world4 as world4
from model import Tokenizer
from lib.cli import UserError

TOY = ROOT / "data" / "toy"
TOKENIZER = ROOT / "checkpoints" / "toy-base" / "tokenizer.model"
SETS = ["lima", "poetry", "math", "recipes", "code", "chess"]


def read(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The default world's small sets (no corpus), as the generator writes them."""
    out = tmp_path_factory.mktemp("toy")
    write_world(str(out), seed=0, corpus_tokens=0)
    return out


def world_cli(*args, **kw):
    """python -m data.world ARGS, from the repository's root."""
    return subprocess.run([sys.executable, "-m", "data.world", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, **kw)


def test_generator_is_deterministic(tmp_path):
    for d in ("a", "b"):
        write_world(str(tmp_path / d), seed=3, corpus_tokens=20_000)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "corpus.jsonl" in names and len(names) == 9
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert not mismatch and not errors
    write_world(str(tmp_path / "c"), seed=4, corpus_tokens=0)
    assert (tmp_path / "a" / "eval.jsonl").read_bytes() != (tmp_path / "c" / "eval.jsonl").read_bytes()


def test_committed_sets_are_the_default_world(world):
    for name in SETS + ["val", "eval"]:
        assert (TOY / f"{name}.jsonl").read_bytes() == (world / f"{name}.jsonl").read_bytes(), \
            f"data/toy/{name}.jsonl is stale: run python -m data.world --out data/toy --overwrite"


def test_the_family_lists_derive_from_the_registry():
    fams = FAMILIES
    assert sorted(FACT_FAMS + TASK_FAMS) == sorted(fams)
    assert UNSEEN == ["revcap", "river", "legs", "opposite", "compare", "sort"]
    assert list(NEAR.values()) == list(TASKS)
    assert set(EVAL_FAR) == set(fams) - set(NEAR)
    for f in fams.values():
        assert set(f.phrases) == {"web", "tune", "val", "eval"} and f.phrases["val"] and f.phrases["eval"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The default world with a small corpus."""
    out = tmp_path_factory.mktemp("small")
    write_world(str(out), seed=0, corpus_tokens=100_000)
    return out


def test_corpus_is_plain_documents(small):
    docs = [r["text"] for r in read(small / "corpus.jsonl")]
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
        w = World(0)
        held = ([c.name for c in w.split["country"][split]] + [c.capital for c in w.split["country"][split]]
                + [c.river for c in w.split["country"][split]] + [a.name for a in w.split["animal"][split]]
                + [p.name for p in w.split["person"][split]] + w.split["dish"][split])
        assert not [h for h in held if re.search(rf"\b{re.escape(h.lower())}\b", tuned_text)]
        # No tuning instruction uses a held-out phrasing.
        for fam, pools in PHRASES.items():
            for p in pools[split]:
                pat = re.compile(re.sub(r"\\\{\w+\\\}", ".+", re.escape(p)), re.S)     # slots match anything
                assert not any(pat.fullmatch(q) for q in tuned_ins), (fam, p)
        # Every family is evaluated, near each single-task set and far from all of them.
        assert {r["near"] for r in recs} == {None, "poetry", "math", "recipes", "code", "chess"}
        assert {"revcap", "river", "legs", "opposite", "compare", "sort"} <= {r["family"] for r in recs}
    assert not {r["instruction"] for r in val} & {r["instruction"] for r in ev}
    held_fams = {f for f, pools in PHRASES.items() if not pools["tune"]}
    assert not held_fams & set(LIMA_FAMS)


def test_no_held_out_instruction_phrasing_or_reference_is_in_the_corpus(tmp_path):
    write_world(str(tmp_path), seed=0, corpus_tokens=400_000)
    text = (tmp_path / "corpus.jsonl").read_text(encoding="utf-8")
    text = "\n".join(json.loads(line)["text"] for line in text.splitlines())
    for split in ("val", "eval"):
        for r in read(tmp_path / f"{split}.jsonl"):
            assert r["instruction"] not in text and r["reference"] not in text, r
        for fam, pools in PHRASES.items():       # the literal text of each held-out phrasing
            for p in pools[split]:
                assert not [f for f in re.split(r"\{\w+\}", p) if len(f.strip()) >= 10 and f in text], (fam, p)
    # The corpus does state held-out facts, in its own forms (knowledge to carry into a new form).
    w = World(0)
    c = w.split["country"]["eval"][0]
    assert f"The capital of {c.name} is {c.capital}." in text


def test_dialogue_share_follows_the_dose(tmp_path, monkeypatch):
    made = []

    def transcript(w, rnd):
        made.append(real(w, rnd))
        return made[-1]
    real = web.doc_transcript
    monkeypatch.setattr(web, "doc_transcript", transcript)
    for dose in (0.0, 0.05, 0.2):
        made.clear()
        write_world(str(tmp_path / str(dose)), seed=0, corpus_tokens=100_000, dialogue=dose)
        text = "".join(r["text"] for r in read(tmp_path / str(dose) / "corpus.jsonl"))
        assert abs(sum(map(len, made)) / len(text) - dose) < 0.01
    # A transcript: tagged turns that answer, and the log goes on after the last answer with a new request.
    assert any("Visitor: " in t for t in made) and all(t.rstrip().endswith(("?", ".")) for t in made)
    # About half the logs put every tag on a line of its own, as the chat format does (world 3).
    tags = {style.format(s=s, l=s.lower(), u=s.upper(), t="").rstrip() for pair in web.SPEAKERS
            for s in pair for style in web.TAGS if "{t}" not in style}
    own = [t for t in made if any(line in tags for line in t.split("\n"))]
    assert 0.35 < len(own) / len(made) < 0.65, (len(own), len(made))


def test_the_world_is_a_package_that_imports_nothing_of_the_method():
    files = sorted((ROOT / "data" / "world").glob("*.py"))
    assert len(files) >= 8 and not (ROOT / "data" / "toyworld.py").exists()
    for f in files:
        assert len(f.read_text(encoding="utf-8").splitlines()) <= 400, f.name         # the package's budget
    method = ["model", "chat", "train", "generate", "rules", "evaluate"]
    code = (f"import sys; import data.world, data.world.__main__; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {method!r}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr)


def test_the_command_line_writes_a_world_and_never_over_one_unasked(tmp_path):
    out = tmp_path / "w"
    r = world_cli("--out", out, "--corpus-tokens", "0")
    assert r.returncode == 0 and "lima 330" in r.stdout, r.stderr
    for name in ["lima", "val", "eval"]:
        assert (out / f"{name}.jsonl").read_bytes() == (TOY / f"{name}.jsonl").read_bytes()
    (out / "lima.jsonl").write_text("kept")
    r = world_cli("--out", out, "--corpus-tokens", "0")                           # holds the world's files
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--overwrite" in r.stderr, r.stderr
    assert (out / "lima.jsonl").read_text() == "kept"
    r = world_cli("--out", out, "--corpus-tokens", "0", "--overwrite")
    assert r.returncode == 0 and (out / "lima.jsonl").read_bytes() == (TOY / "lima.jsonl").read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("not the world's")                          # a folder without them is fine
    assert world_cli("--out", other, "--corpus-tokens", "0").returncode == 0
    for flags in (["--corpus-tokens", "-1"], ["--dialogue", "1.5"], ["--html", "-0.1"]):
        r = world_cli("--out", tmp_path / "bad", *flags)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (flags, r.stderr)
    assert not (tmp_path / "bad").exists()


def test_an_interrupted_world_leaves_its_folder_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "w"
    write_world(str(out), seed=0, corpus_tokens=0)
    before = {f.name: f.read_bytes() for f in out.iterdir()}

    def broken(*a, **kw):
        yield from real(*a, **kw)
        raise KeyboardInterrupt                 # the corpus is the long part: stopped at its end
    real = sets.corpus
    monkeypatch.setattr(sets, "corpus", broken)
    with pytest.raises(KeyboardInterrupt):
        write_world(str(out), seed=5, corpus_tokens=5_000)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before               # no new set, no temporary


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
    r = world_cli("tokenizer", "--corpus", tmp_path / "missing.jsonl", "--out", tmp_path / "t.model")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "missing.jsonl" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\nnot json\n')
    with pytest.raises(UserError, match="bad.jsonl:2"):
        train_tokenizer(str(bad), str(tmp_path / "t.model"))
    assert not (tmp_path / "t.model").exists() and not (tmp_path / "t.model.tmp").exists()
    (tmp_path / "t.model").write_text("a tokenizer that weights were trained with")
    r = world_cli("tokenizer", "--corpus", bad, "--out", tmp_path / "t.model")
    assert r.returncode == 2 and "pass --overwrite" in r.stderr
    assert (tmp_path / "t.model").read_text() == "a tokenizer that weights were trained with"


def test_tokenizer_trains_like_llamas(tmp_path):
    write_world(str(tmp_path), seed=0, corpus_tokens=300_000)
    sp = train_tokenizer(str(tmp_path / "corpus.jsonl"), str(tmp_path / "tok" / "tokenizer.model"), vocab_size=1500)
    tok = Tokenizer(str(tmp_path / "tok" / "tokenizer.model"))
    assert sp.get_piece_size() == tok.vocab_size == 1500 and (tok.bos_id, tok.eos_id, tok.sp.unk_id()) == (1, 2, 0)
    assert all(tok.piece_id(p) is not None for p in RULE_PIECES)


def test_the_world_needs_the_pieces_the_rules_look_up():
    """The world lists the rule pieces itself (it imports nothing of the method): the same as rules.py's."""
    assert sorted(RULE_PIECES) == sorted({piece for piece, _ in rules.UNIFORM})


@pytest.mark.skipif(not TOKENIZER.exists(), reason="the committed toy tokenizer is absent")
def test_committed_tokenizer_has_the_rule_pieces():
    tok = Tokenizer(str(TOKENIZER))
    assert tok.vocab_size == 4000 and (tok.bos_id, tok.eos_id, tok.sp.unk_id()) == (1, 2, 0)
    missing = [p for p in RULE_PIECES if tok.piece_id(p) is None]
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


# World 4 (data/TOYWORLD.md, not adopted): each fact in several web voices, and extra question-answer pages. The
# world has neither; experiments/screen_world4.py writes those corpora through World.web_answer.
@pytest.fixture(scope="module")
def voiced(tmp_path_factory):
    """A small corpus with every voice and a tenth of question-answer pages, written twice."""
    outs = [tmp_path_factory.mktemp(d) / "corpus.jsonl" for d in ("v", "w")]
    for out in outs:
        world4.write_corpus(str(out), 150_000, world4.MAX_VOICES, 0.1)
    return outs


def corpus_text(path):
    return "\n".join(r["text"] for r in read(path))


def test_voiced_corpus_is_deterministic_and_one_voice_is_the_worlds_corpus(voiced, small, tmp_path):
    assert voiced[0].read_bytes() == voiced[1].read_bytes()
    world4.write_corpus(str(tmp_path / "v1.jsonl"), 100_000, 1, 0.0)                  # the screening's baseline
    assert (tmp_path / "v1.jsonl").read_bytes() == (small / "corpus.jsonl").read_bytes()


def test_the_first_voice_is_the_webs_own_and_no_voice_is_the_chat_voice():
    w, rnd = world4.VoicedWorld(0, world4.MAX_VOICES), random.Random(0)
    assert set(world4.VOICES) <= set(FAMILIES)
    for name, web_voices in world4.VOICES.items():
        f = FAMILIES[name]
        for _ in range(20):
            item = f.make(w, rnd, "eval", f.phrases["eval"][0])
            if item is None:
                continue
            said = [v.format(**w.facts(name, item.slots)) for v in web_voices]
            assert said[0] == item.web and len(set(said)) == len(said), name
            assert not [s for s in said if item.chat in s or s in item.chat], name


def test_voiced_corpus_states_held_out_facts_both_ways(voiced):
    text = corpus_text(voiced[0])
    w = World(0)
    held = w.split["country"]["val"] + w.split["country"]["eval"]
    found = [[v for v in world4.CAPITAL if v.format(c=c.name, cap=c.capital) in text] for c in held]
    assert all(found) and sum(map(len, found)) >= 3 * len(held), found      # several voices each, on average
    # Both directions: "the capital of X is Y" and "Y is the capital of X" (the reversal curse)
    both = [f for f in found if world4.CAPITAL[0] in f and world4.CAPITAL[1] in f]
    assert len(both) >= len(held) // 3, found
    # Encyclopedia pages name their entity in every sentence (no "It has ..."), in varied orders.
    w, rnd, firsts = world4.VoicedWorld(0, world4.MAX_VOICES), random.Random(1), set()
    for _ in range(60):
        sentences = re.split(r"(?<=[.!]) ", world4.voiced_article(w, rnd)[1])
        assert not [x for x in sentences if x.startswith(("It ", "He ", "She "))], sentences
        firsts.add(sentences[0].split()[0])
    assert len(firsts) > 10


def test_voiced_corpus_has_question_answer_pages_and_keeps_unanswered_requests(voiced):
    text = corpus_text(voiced[0])
    assert "Worked answer: " in text or "Solution: " in text
    assert re.search(r"(Interview with|Five questions for|We talked to) [A-Z]", text)
    assert "\nA: " in text and "Answer key" in text and "replied:\n" in text
    assert "Exam " in text and "I have the same question!" in text          # requests left unanswered stay


def test_voiced_corpus_keeps_held_out_text_and_chat_tags_out(voiced, world):
    text = corpus_text(voiced[0])
    assert "<|" not in text and "|>" not in text
    assert not re.search(r"\b(user|assistant)\b", text, re.IGNORECASE)
    for split in ("val", "eval"):
        for r in read(world / f"{split}.jsonl"):
            assert r["instruction"] not in text and r["reference"] not in text, r
        for fam, pools in PHRASES.items():
            for p in pools[split]:
                assert not [f for f in re.split(r"\{\w+\}", p) if len(f.strip()) >= 10 and f in text], (fam, p)


def test_voiced_corpus_still_makes_the_rule_pieces(voiced, tmp_path):
    train_tokenizer(str(voiced[0]), str(tmp_path / "tokenizer.model"), vocab_size=1200)     # raises if one lacks
    tok = Tokenizer(str(tmp_path / "tokenizer.model"))
    assert all(tok.piece_id(p) is not None for p in RULE_PIECES)


# The held-out fact references in three voices and the knowledge probe (data/world/voices.py, Hewitt §4.2).
CORPUS_FILE = TOY / "corpus.jsonl"
SLOT = {"capital": "c", "river": "c", "revcap": "cap", "job": "p", "opposite": "x"}     # else "a", an animal


@pytest.fixture(scope="module")
def voiced_sets(tmp_path_factory):
    """The voices files written again from the committed sets, with the sets' fact records beside them."""
    out = tmp_path_factory.mktemp("voices")
    made = voices.write_voices(str(TOY), str(out))
    records = {split: [r for r in read(TOY / f"{split}.jsonl") if r["family"] in voices.FAMS]
               for split in voices.SPLITS}
    return out, made, records


@pytest.fixture(scope="module")
def corpus_plain():
    if not CORPUS_FILE.exists():
        pytest.skip("data/toy/corpus.jsonl is absent (made by python -m data.world --out data/toy --overwrite)")
    return corpus_text(CORPUS_FILE)


def neutral_phrases():
    """The fixed wording of the neutral templates: each piece between slots of 10 characters or more."""
    return [p for t in voices.NEUTRAL.values() for p in re.split(r"\{\w+\}", t) if len(p.strip()) >= 10]


def test_voices_files_are_what_the_writer_makes_and_skip_nothing(voiced_sets):
    out, made, records = voiced_sets
    for split in voices.SPLITS:
        name = f"voices-{split}.jsonl"
        assert (out / name).read_bytes() == (TOY / name).read_bytes(), \
            f"data/toy/{name} is stale: run python -m data.world voices --out data/toy --overwrite"
        rows = read(out / name)
        assert made[split] == (len(records[split]), 0)                      # every fact record resolved
        assert [(r["instruction"], r["family"], r["voices"]["chat"]) for r in rows] == \
            [(r["instruction"], r["family"], r["reference"]) for r in records[split]]
        assert all(set(r) == {"instruction", "family", "voices", "knowledge"} for r in rows)


def test_the_corpus_template_is_the_webs_own_answer_and_the_neutral_one_no_voice_of_the_world():
    w, rnd = World(0), random.Random(0)
    known = voices.names(w)
    for fam in voices.FAMS:
        f = FAMILIES[fam]
        assert voices.NEUTRAL[fam] not in world4.VOICES[fam]
        for split in ("val", "eval", "web"):
            for template in f.phrases[split]:
                for _ in range(10):
                    item = f.make(w, rnd, split, template)
                    facts = known[fam][str(item.slots[SLOT.get(fam, "a")]).lower()]
                    assert voices.CORPUS[fam].format(**facts) == item.web, (fam, item)
                    neutral = voices.NEUTRAL[fam].format(**facts)
                    assert neutral not in f"{item.chat} {item.web}", fam
                    assert item.chat not in neutral and item.web not in neutral, fam
    # No fixed phrase of a neutral template is in any of world 4's web voices either.
    assert not [p for p in neutral_phrases() if any(p in v for vs in world4.VOICES.values() for v in vs)]


def test_each_voice_names_the_same_entities_and_values_and_passes_the_records_criterion(voiced_sets):
    out, _, records = voiced_sets
    known = voices.names(World(0))
    for split in voices.SPLITS:
        for row, rec in zip(read(out / f"voices-{split}.jsonl"), records[split]):
            fam, said = rec["family"], row["voices"]
            facts = voices.entities(known, fam, rec["instruction"])
            assert len(facts) == voices.COUNT[fam]
            for voice in ("corpus", "neutral"):
                assert check(said[voice], rec["criterion"]), (split, voice, said[voice], rec["criterion"])
                # Each slot of the facts (entity, value, city, ...) named as the chat reference names it, in
                # the instruction's order; a slot the chat reference leaves out (a country's river) left out.
                for key in facts[0]:
                    asked = [str(f[key]).lower() for f in facts]
                    assert named_in_order(said[voice].lower(), asked) == named_in_order(said["chat"].lower(),
                                                                                       asked), (key, said)
                assert said[voice] != said["chat"]


def neutral_sentences(out):
    return [r["voices"]["neutral"] for split in voices.SPLITS for r in read(out / f"voices-{split}.jsonl")]


def test_no_neutral_sentence_or_phrase_is_in_a_tuning_set_or_a_held_out_set(voiced_sets):
    tuned = "\n".join(m["content"] for name in SETS for r in read(TOY / f"{name}.jsonl")
                      for m in r["messages"])
    held = "\n".join(r[k] for split in voices.SPLITS for r in read(TOY / f"{split}.jsonl")
                     for k in ("instruction", "reference"))
    for name, text in (("tuning sets", tuned), ("held-out sets", held)):
        assert not [s for s in neutral_sentences(voiced_sets[0]) if s in text], name
        assert not [p for p in neutral_phrases() if p in text], name


def test_no_neutral_sentence_or_phrase_is_in_the_corpus(voiced_sets, corpus_plain):
    assert not [s for s in neutral_sentences(voiced_sets[0]) if s in corpus_plain]
    assert not [p for p in neutral_phrases() if p in corpus_plain]


def test_the_corpus_states_every_held_out_fact_in_the_corpus_voice_and_no_wrong_one(voiced_sets, corpus_plain):
    out, _, records = voiced_sets
    known, stated, missing, wrong = voices.names(World(0)), 0, [], []
    for split in voices.SPLITS:
        for row, rec in zip(read(out / f"voices-{split}.jsonl"), records[split]):
            for f in voices.entities(known, rec["family"], rec["instruction"]):
                sentence = voices.CORPUS[rec["family"]].format(**f)
                stated += 1
                missing += [] if sentence in corpus_plain else [sentence]
            wrong += [s for s in row["knowledge"]["wrong"] if s in corpus_plain]
    assert stated == 305 and not missing, missing          # 181 records: 1, 2 or 3 facts each
    assert not wrong, wrong


def test_the_knowledge_probe_is_the_first_fact_against_five_distinct_wrong_values(voiced_sets):
    out, _, records = voiced_sets
    w = World(0)
    known = voices.names(w)
    for split in voices.SPLITS:
        for row, rec in zip(read(out / f"voices-{split}.jsonl"), records[split]):
            fam, probe = rec["family"], row["knowledge"]
            first = voices.entities(known, fam, rec["instruction"])[0]
            assert probe["true"] == voices.CORPUS[fam].format(**first)
            n = 3 if fam == "legs" else voices.N_WRONG             # the world's animals have four leg counts
            assert len(probe["wrong"]) == n == len(set(probe["wrong"])) and probe["true"] not in probe["wrong"]
            # Each wrong statement is the true one with every changed slot given another value of its kind.
            slots, legs = voices.changed(w, fam), set()
            for s in probe["wrong"]:
                pattern = re.escape(voices.CORPUS[fam]).replace(r"\{", "{").replace(r"\}", "}")
                pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>.+?)", pattern)
                got = re.fullmatch(pattern, s).groupdict()
                for slot, pool in slots:
                    assert got[slot] in map(str, pool) and got[slot] != str(first[slot]), (s, slot)
                    assert got[slot] not in map(str, first.values()), s       # nor the asked opposite word
                assert all(got[k] == str(first[k]) for k in got if k not in dict(slots)), s
                legs.update({got["legs"]} if fam == "legs" else ())
            if fam == "legs":                   # four counts exist: the three others
                assert legs == set(map(str, voices.WRONG_LEGS)) - {str(first["legs"])}, probe


def test_the_voices_command_writes_the_committed_files_and_never_over_them_unasked(tmp_path):
    r = world_cli("voices", "--out", tmp_path)
    assert r.returncode == 0 and "voices-val.jsonl 91 records (0 skipped" in r.stdout, r.stderr
    for name in (f"voices-{split}.jsonl" for split in voices.SPLITS):
        assert (tmp_path / name).read_bytes() == (TOY / name).read_bytes()
    (tmp_path / "voices-eval.jsonl").write_text("kept")
    with pytest.raises(UserError, match="--overwrite"):
        world_main(["voices", "--out", str(tmp_path)])
    assert (tmp_path / "voices-eval.jsonl").read_text() == "kept"
    with pytest.raises(UserError, match="another --seed"):                       # sets of another world
        world_main(["voices", "--out", str(tmp_path / "s"), "--seed", "3"])
    with pytest.raises(UserError, match="val.jsonl: input file not found"):
        world_main(["voices", "--sets", str(tmp_path / "none"), "--out", str(tmp_path / "n")])
    assert not (tmp_path / "s").exists() and not (tmp_path / "n").exists()
    r = world_cli("voices", "--out", tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--overwrite" in r.stderr, r.stderr

"""The table command end to end, in seconds: every condition, one seed, a tiny random model with the toy
world's tokenizer, a few examples per set and a few tokens per output."""
import json
import os
import sys

import pytest

from conftest import ROOT, make_checkpoint
import model

TOY = ROOT / "data" / "toy"


@pytest.mark.skipif(not (TOY / "eval.jsonl").exists() or not (ROOT / "checkpoints/toy-base/tokenizer.model").exists(),
                    reason="toy world not built")
def test_reproduce_whole_table_tiny(tmp_path, monkeypatch):
    from experiments import reproduce
    data = tmp_path / "toy"
    data.mkdir()
    for f in os.listdir(TOY):
        if f.endswith(".jsonl") and f != "corpus.jsonl":
            lines = (TOY / f).read_text().splitlines()[:12]
            (data / f).write_text("\n".join(lines) + "\n")
    base = make_checkpoint(tmp_path / "base", model.Tokenizer(str(ROOT / "checkpoints/toy-base")))
    out = tmp_path / "out"
    args = ["--base", base, "--data", str(data), "--out", str(out), "--seeds", "1", "--epochs-scale", "0.07",
            "--max-new-tokens", "4", "--attribution-prompts", "2"]
    reproduce.main(args)
    res = json.loads((out / "results.json").read_text())
    names = ["base", *reproduce.RULE_SETS, *reproduce.CONDITIONS]
    assert list(res["conditions"]) == names
    it = res["conditions"]["instruction-tuned"]               # itself: all ties, no decisive instruction
    assert it["win_rate_vs_it"] == [None] and it["win_rate_ci95"] is None
    assert it["ties_%"] == [100.0] and it["paper_win_rate_vs_it"] == [50.0]
    assert "ranking" in res["conditions"]["base"] and "attribution" in res["conditions"]["response-tuned"]
    assert "style_near_far_%" in res["conditions"]["poetry"]
    md = (out / "results.md").read_text()
    assert "| response-tuned |" in md and "43.3" in md and "| all rules, ramp 8 |" in md
    assert "decided by passes alone" in md and "| paper-style win rate % |" in md
    # The premise in three voices and the knowledge probe, from the set's voices file (its first 12 records)
    voiced = res["conditions"]["response-tuned"]
    assert set(voiced["voices"]) == {"chat", "corpus", "neutral"} and voiced["voices"]["neutral"]["pairs"] > 0
    assert voiced["knowledge"]["chat"]["facts"] == 12 and "| neutral voice % |" in md
    # A rerun with nothing changed scores no model again, and writes the same tables.
    import evaluate
    first = (out / "results.json").read_text()

    def refused(*a, **k):
        raise AssertionError("scored again")
    for f in ("ranking", "first_token_ranks", "response_nll", "attribution", "knowledge"):
        monkeypatch.setattr(evaluate, f, refused)
    reproduce.main(args)
    assert (out / "results.json").read_text() == first and (out / "results.md").read_text() == md
    kept = json.loads((out / "measures" / "base.json").read_text())        # made of other code: scored again
    kept["made_of"]["code"] = {}
    (out / "measures" / "base.json").write_text(json.dumps(kept))
    with pytest.raises(AssertionError, match="scored again"):
        reproduce.main(args)
    monkeypatch.undo()
    reproduce.main(args)
    assert (out / "results.json").read_text() == first


@pytest.mark.skipif(not (TOY / "eval.jsonl").exists() or not (ROOT / "checkpoints/toy-base/tokenizer.model").exists(),
                    reason="toy world not built")
def test_reproduce_interrupted_in_training_and_decoding_gives_the_same_tables(tmp_path, monkeypatch):
    from experiments import reproduce
    import train
    data = tmp_path / "toy"
    data.mkdir()
    for f in ("lima", "eval"):
        (data / f"{f}.jsonl").write_text("\n".join((TOY / f"{f}.jsonl").read_text().splitlines()[:10]) + "\n")
    base = make_checkpoint(tmp_path / "base", model.Tokenizer(str(ROOT / "checkpoints/toy-base")))

    def run(out):
        reproduce.main(["--base", base, "--data", str(data), "--out", str(out), "--seeds", "1", "--epochs-scale",
                        "0.2", "--max-new-tokens", "4", "--attribution-prompts", "0", "--conditions", "base"])
    run(tmp_path / "a")                                                      # uninterrupted

    def interrupted(args):                     # Ctrl-C after the first training step was saved
        args.stop_at = 1
        real(args)
        raise KeyboardInterrupt
    real = train.train
    monkeypatch.setattr(train, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b")
    monkeypatch.setattr(train, "train", real)
    outputs = tmp_path / "b" / "outputs" / "base.json"                    # and a decoding cut short
    outputs.write_text(json.dumps(json.loads(outputs.read_text())[:3]))
    run(tmp_path / "b")
    assert (tmp_path / "b" / "results.md").read_bytes() == (tmp_path / "a" / "results.md").read_bytes()
    assert len(json.loads(outputs.read_text())) == 10


@pytest.mark.skipif(not (TOY / "eval.jsonl").exists() or not (ROOT / "checkpoints/toy-base/tokenizer.model").exists(),
                    reason="toy world not built")
def test_a_rerun_with_other_settings_or_code_redoes_the_work_it_cannot_reuse(tmp_path, monkeypatch, capsys):
    from experiments import reproduce
    from lib import provenance
    data = tmp_path / "toy"
    data.mkdir()
    for f in ("lima", "eval"):
        (data / f"{f}.jsonl").write_text("\n".join((TOY / f"{f}.jsonl").read_text().splitlines()[:6]) + "\n")
    base = make_checkpoint(tmp_path / "base", model.Tokenizer(str(ROOT / "checkpoints/toy-base")))

    def run(out, scale, tokens):
        reproduce.main(["--base", base, "--data", str(data), "--out", str(out), "--seeds", "1", "--epochs-scale",
                        scale, "--max-new-tokens", tokens, "--attribution-prompts", "0", "--conditions", "base"])
    run(tmp_path / "fresh", "0.07", "3")
    run(tmp_path / "b", "0.5", "5")                        # IT: 2 epochs, not 1 (the conditions' counts x scale)
    capsys.readouterr()
    run(tmp_path / "b", "0.07", "3")                       # other epochs and decoding: all of it redone
    err = capsys.readouterr().err                          # (IT 5 x 0.07: a third of an epoch, one pass over a third)
    assert "made with another epochs, data; training it again" in err and "made with another max_new_tokens" in err
    same = ["results.md", "outputs/base.json", "outputs/instruction-tuned-seed-1.json"]
    assert all((tmp_path / "b" / f).read_bytes() == (tmp_path / "fresh" / f).read_bytes() for f in same)
    real = provenance.code_sha256

    def edited(files):                                                  # other code: train.py and rules.py
        return {**real(files), **{f: "0" * 64 for f in ("train.py", "rules.py") if f in files}}
    monkeypatch.setattr(provenance, "code_sha256", edited)
    run(tmp_path / "b", "0.07", "3")
    err = capsys.readouterr().err
    assert err.count("made with another code") == 3                     # the run and both output files
    assert all((tmp_path / "b" / f).read_bytes() == (tmp_path / "fresh" / f).read_bytes() for f in same)


@pytest.mark.skipif(not (TOY / "val.jsonl").exists() or not (ROOT / "checkpoints/toy-base/tokenizer.model").exists(),
                    reason="toy world not built")
def test_dose_sweep_tiny(tmp_path):
    from experiments import dose_sweep
    from data.world.web import SPEAKERS
    base = make_checkpoint(tmp_path / "base", model.Tokenizer(str(ROOT / "checkpoints/toy-base")))
    out = tmp_path / "sweep"
    dose_sweep.main(["--base", base, "--doses", "30", "--tokens", "3000", "--out", str(out), "--limit", "4",
                     "--epochs-scale", "0.07"])
    res = json.loads((out / "sweep.json").read_text())
    assert list(res) == ["30"] and set(dose_sweep.ROWS) <= set(res["30"])
    text = (out / "dose-30" / "corpus.jsonl").read_text()
    assert any(f"{asker}" in text and f"{answerer}" in text for asker, answerer in SPEAKERS)
    md = (out / "sweep.md").read_text()
    assert "| 30 |" in md and "| base same-family % | IT same-family % | base swap % |" in md
    assert {"first_token_rank", "ranking_same_family"} <= set(res["30"]["base"])


@pytest.mark.skipif(not (TOY / "val.jsonl").exists() or not (ROOT / "checkpoints/toy-base/tokenizer.model").exists(),
                    reason="toy world not built")
def test_probe_formats_tiny(tmp_path, capsys):
    from experiments import probe_formats
    base = make_checkpoint(tmp_path / "base", model.Tokenizer(str(ROOT / "checkpoints/toy-base")))
    probe_formats.main(["--checkpoint", base, "--max-new-tokens", "2"])
    out = capsys.readouterr().out
    assert all(f"| {name} | " in out for name in probe_formats.FORMATS)


def test_win_rates_and_differences_are_decided_by_passes_not_grades():
    from experiments import reproduce
    it = [[(True, 1.0), (False, 0.9), (False, 0.2), (True, 0.5)],
          [(True, 1.0), (True, 0.9), (False, 0.2), (False, 0.5)]]
    dump = [[(False, 1.0)] * 4]                            # all the partial credit there is, no pass
    low = [[(False, 0.0)] * 4]                             # the same passes, no credit
    good = [[(True, 0.1), (False, 0.0), (True, 0.0), (True, 0.0)]]
    rows = {name: reproduce.against_it(g, it) for name, g in [("dump", dump), ("low", low), ("good", good)]}
    # One output set against each IT seed; a dump wins nothing, whatever its grade
    assert rows["dump"][0] == rows["low"][0] == {"win_rate_vs_it": [0.0, 0.0], "win_rate_ci95": [0.0, 0.0],
                                                 "ties_%": [50.0, 50.0], "paper_win_rate_vs_it": [25.0, 25.0]}
    # good vs IT seed 1: a win, three ties; vs seed 2: a win, a loss, a tie and a win
    assert rows["good"][0]["win_rate_vs_it"] == [100.0, 100 * 2 / 3]
    assert rows["good"][0]["paper_win_rate_vs_it"] == [100 * 2.5 / 4, 100 * 2.5 / 4]
    per_ins = {name: (outcome, [sum(p for p, _ in x) / len(g) for x in zip(*g)])
               for (name, (_, outcome)), g in zip(rows.items(), (dump, low, good))}
    same = reproduce.difference(per_ins, "dump", "low")
    assert same["win_rate"] == 0.0 and same["win_rate_ci95"] == [0.0, 0.0] and same["checks"] == 0.0
    d = reproduce.difference(per_ins, "good", "dump")
    assert d["win_rate"] == pytest.approx(100 * 5 / 6) and d["checks"] == 75.0
    assert d["win_rate_ci95"][0] <= d["win_rate"] <= d["win_rate_ci95"][1]
    itself = {"it": (reproduce.against_it(it, it)[1], [0.5] * 4)}
    assert reproduce.difference(itself, "it", "it")["win_rate"] is None and reproduce.rate(None) == "n/a"


def test_epoch_rule_prefers_the_best_then_the_papers_count_then_the_fewest():
    from experiments import epoch_sweep, reproduce
    assert epoch_sweep.choose({5: 10.0, 7: 30.0, 15: 20.0}, paper=15) == 7
    assert epoch_sweep.choose({5: 30.0, 7: 30.0, 15: 30.0}, paper=15) == 15
    assert epoch_sweep.choose({5: 10.0, 7: 30.0, 10: 30.0}, paper=15) == 7


@pytest.mark.skipif(not (TOY / "val.jsonl").exists() or not (ROOT / "checkpoints/toy-base/tokenizer.model").exists(),
                    reason="toy world not built")
def test_epoch_sweep_tiny(tmp_path):
    from experiments import epoch_sweep, reproduce
    base = make_checkpoint(tmp_path / "base", model.Tokenizer(str(ROOT / "checkpoints/toy-base")))
    out = tmp_path / "epochs"
    chosen = epoch_sweep.main(["--base", base, "--grid", "1", "2", "--out", str(out), "--limit", "3"])
    res = json.loads((out / "epochs.json").read_text())
    assert res["chosen"] == chosen and chosen["instruction-modelling"] == chosen["instruction-tuned"]
    assert set(res["scores"]) == set(epoch_sweep.SWEPT)
    # On a grid of two counts every best is at an edge: each condition is run past it once, and chosen again
    assert set(res["grown"]) == set(epoch_sweep.SWEPT)
    for name, counts in res["grown"].items():
        assert counts in ([0.25, 0.5], [3, 4]) and set(res["scores"][name]) == {"1", "2", *map("{:g}".format, counts)}
        assert res["chosen"][name] in (1, 2, *counts)
    # A fraction of an epoch is one pass over that share of the set, drawn by the seed
    low = [name for name, counts in res["grown"].items() if counts == [0.25, 0.5]]
    for name in low:
        data = reproduce.CONDITIONS[name][1]
        part = out / "epochs-0.25" / "data" / f"{data}-0.25-seed42.jsonl"
        whole = (TOY / f"{data}.jsonl").read_text().splitlines()
        lines = part.read_text().splitlines()
        records = [json.loads(line) for line in whole]
        assert len(lines) == -(-len(whole) // 4) and all(json.loads(line) in records for line in lines)
    assert (out / "epochs-2" / "runs" / "response-tuned-seed42" / "model.safetensors").exists()
    assert "| response-tuned | win % vs IT |" in (out / "epochs.md").read_text()


def test_without_matplotlib_the_figure_is_skipped_with_a_note(monkeypatch, capsys):
    from lib import report
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # import matplotlib now raises ImportError
    assert report.pyplot("out/results.png") is None
    assert "no figure out/results.png: matplotlib is not installed" in capsys.readouterr().out


def test_an_out_that_cannot_be_made_is_one_line(tmp_path):
    from experiments import reproduce
    from lib.cli import UserError
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot make it"):
        reproduce.main(["--out", str(tmp_path / "file" / "x"), "--limit", "1"])


@pytest.mark.skipif(not (TOY / "val.jsonl").exists() or not (ROOT / "checkpoints/toy-base/tokenizer.model").exists(),
                    reason="toy world not built")
def test_base_rules_procedure_changes_the_top_wrong_opening_each_round(tmp_path, capsys):
    from experiments import base_rules
    base = make_checkpoint(tmp_path / "base", model.Tokenizer(str(ROOT / "checkpoints/toy-base")))
    out = tmp_path / "own.json"
    base_rules.main(["--checkpoint", base, "--limit", "24", "--max-new-tokens", "3", "--max-changes", "3",
                     "--out", str(out)])
    res = json.loads(out.read_text())
    changes, rounds = res["changes"], res["rounds"]
    assert 1 <= len(changes) <= 3 and len(rounds) == len(changes) + 1
    for k, change in enumerate(changes):                # each round adds the previous round's top opening, -5
        assert rounds[k]["changes"] == changes[:k] and change == [rounds[k]["openings"][0][0], -5.0]
        assert rounds[k]["openings"][0][1] >= 0.10 * rounds[k]["wrong"]
    assert "OWN = (" in capsys.readouterr().out


def test_world4_rule_orders_candidates_by_its_parts_then_the_ranking():
    from experiments import screen_world4

    def rep(same, swap, checks):
        return {"ranking_same_family": {"code_mean_token_%": same, "swap_control_%": swap}, "pass_rate": [checks]}
    it = rep(82.0, 0, 0)
    meets, key = screen_world4.rule(rep(80.0, 91.0, 5.0), it)
    assert all(meets.values())                                   # 80 is within 3 of IT's 82; the bounds count
    assert not screen_world4.rule(rep(78.0, 95.0, 0.0), it)[0]["ranking"]           # under 80
    assert not screen_world4.rule(rep(81.0, 95.0, 0.0), rep(85.0, 0, 0))[0]["ranking"]   # 4 below its IT
    keys = {name: screen_world4.rule(rep(*r), it)[1] for name, r in
            {"all": (80.0, 91.0, 5.0), "ranking only": (85.0, 50.0, 50.0), "rest": (60.0, 99.0, 0.0),
             "follower": (70.0, 50.0, 12.0), "quiet": (60.0, 50.0, 0.0)}.items()}
    assert sorted(keys, key=keys.get, reverse=True) == ["all", "ranking only", "rest", "quiet", "follower"]


def test_rows_whose_names_would_share_an_output_file_are_refused(tmp_path):
    from experiments import reproduce
    from lib.cli import UserError
    with pytest.raises(UserError, match="'a b' and 'a-b' would share the file outputs/a-b.json"):
        reproduce.main(["--out", str(tmp_path), "--limit", "1", "--rule-set", "a b=eos", "--rule-set", "a-b=uniform"])


def test_paper_epochs_rows_train_each_condition_at_the_papers_count_where_the_chosen_one_differs():
    from experiments import reproduce
    plain = reproduce.settings([])
    assert reproduce.conditions_of(plain) == reproduce.CONDITIONS
    args = reproduce.settings(["--paper-epochs"])
    rows = reproduce.conditions_of(args)
    extra = {n: r for n, r in rows.items() if n not in reproduce.CONDITIONS}
    differ = [n for n, (_, _, e) in reproduce.CONDITIONS.items() if e != reproduce.PAPER_EPOCHS[n]]
    assert sorted(extra) == sorted(reproduce.paper_row(n) for n in differ)
    for name in differ:
        mode, data, epochs = rows[reproduce.paper_row(name)]
        assert (mode, data) == reproduce.CONDITIONS[name][:2] and epochs == reproduce.PAPER_EPOCHS[name]
    # Asking for a condition also asks for its row at the paper's count
    if differ:
        _, wanted = reproduce.rows_of(reproduce.settings(["--paper-epochs", "--conditions", differ[0]]))
        assert wanted == {"instruction-tuned", differ[0], reproduce.paper_row(differ[0])}



def test_world5_rule_reads_the_neutral_voice_the_base_and_the_baselines_response_tuning():
    from experiments import screen_world5

    def rep(base_neutral, it_neutral, base_checks, rt_checks):
        voices = lambda x: {"voices": {"neutral": {"code_mean_token_%": x}}}
        return {"conditions": {"base": {**voices(base_neutral), "pass_rate": [base_checks]},
                               "instruction-tuned": voices(it_neutral),
                               "response-tuned": {"pass_rate": [rt_checks]}}}
    baseline = rep(50.0, 50.0, 1.0, 4.0)
    assert all(screen_world5.rule(rep(57.0, 60.0, 5.0, 4.5), baseline).values())     # the bounds count
    assert screen_world5.rule(rep(56.9, 60.0, 0.0, 9.0), baseline) == {"premise": False, "non-follower": True,
                                                                       "response tuning": True}
    assert not screen_world5.rule(rep(70.0, 60.0, 5.1, 9.0), baseline)["non-follower"]
    assert not screen_world5.rule(rep(70.0, 60.0, 0.0, 4.0), baseline)["response tuning"]   # not above


def test_world5_corpus_puts_faq_answers_and_letter_replies_under_a_tag_line(tmp_path):
    from data.world import web
    from experiments import screen_world5
    path = tmp_path / "corpus.jsonl"
    screen_world5.write_candidate(str(path), 60_000)
    docs = [json.loads(line)["text"] for line in path.read_text().splitlines()]
    assert web.OWN_LINE == 0.5                                  # restored after the corpus is written
    faq = [d for d in docs if any(f"\n\n{q}\n" in d for q in ("Q:", "Question:", "Reader:", "Asked:"))]
    letters = [d for d in docs if " answered:\n" in d]
    assert faq and letters and not any("\nQ: " in d or "\nQuestion: " in d for d in docs)
    # every dialogue log's tags on lines of their own: no line opens with a tag and goes on with the turn
    assert not inline_tags(docs, web)
    screen_world5.write_today(str(path), 60_000)                # today's corpus has them: the check can fail
    assert inline_tags([json.loads(line)["text"] for line in path.read_text().splitlines()], web)


def inline_tags(docs, web):
    """The lines of `docs` that open with a dialogue log's speaker tag and go on with the turn."""
    tags = [style.format(s=s, l=s.lower(), u=s.upper()) for pair in web.SPEAKERS for s in pair
            for style in web.TAGS if "{t}" not in style]
    return [line for d in docs for line in d.splitlines() for tag in tags
            if line.startswith(tag) and line.strip() != tag.strip()]

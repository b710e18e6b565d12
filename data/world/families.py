"""The families: the registry (FAMILIES) of what the world asks, each family a maker of items (items.py) and
its phrasings in four pools, and every list of families derived from it."""
from dataclasses import dataclass

from data.world.items import (make_about, make_arith, make_capital, make_chess, make_classify, make_code,
                              make_color, make_compare, make_home, make_job, make_legs, make_letter, make_list,
                              make_math, make_opposite, make_poem, make_recipe, make_revcap, make_rewrite, make_river,
                              make_sort, make_yesno)

# A family makes (instruction, answer, criterion) about one entity. Phrasings come in four pools: "web" ones
# occur only in the corpus, "tune" ones in the tuning sets and the corpus, "val" ones only in the validation set
# and "eval" ones only in the evaluation set, so a held-out question is a new form of knowledge the corpus gave
# in its own forms. Families with no "tune" phrasing are held out of tuning altogether.
TASKS = ("poetry", "math", "recipes", "code", "chess")         # the single-task sets of Hewitt et al. §5


@dataclass
class Family:
    phrases: dict                  # pool ("web", "tune", "val", "eval") -> phrasings with {slots}
    make: object                   # (world, rnd, split, phrasing) -> Item, or None to draw again
    lima: bool = False             # in the LIMA analog
    near: str = None               # the single-task set (TASKS) whose task this is (Hewitt §5.2)
    items: int = None              # records in each held-out set, if not the default for near or far families

    @property
    def tuned(self):
        return bool(self.phrases["tune"])


# The registry: one record per family; the lists below derive from it, so adding a family touches one place.
FAMILIES = {
    "capital": Family({"web": ["What is the capital of {c}?", "Which city is the capital of {c}?"],
                       "tune": ["Name the capital of {c}.", "What city is the capital of {c}?"],
                       "val": ["What is {c}'s capital?", "I want to know the capital of {c}."],
                       "eval": ["Tell me the capital city of {c}.", "{c} has a capital. Which city is it?"]},
                      make_capital, lima=True),
    "color": Family({"web": ["What color is the {a}?"], "tune": ["What color is a {a}?", "Say what color the {a} is."],
                     "val": ["What is the color of the {a}?", "The {a}: what color is it?"],
                     "eval": ["Tell me the color of the {a}.", "Which color does the {a} have?"]},
                    make_color, lima=True),
    "job": Family({"web": ["What does {p} do for a living?", "What is {p}'s job?"],
                   "tune": ["What is the job of {p}?", "Name the job of {p}."],
                   "val": ["What job does {p} have?", "How does {p} earn a living?"],
                   "eval": ["Tell me what {p} works as.", "What work does {p} do?"]},
                  make_job, lima=True),
    "home": Family({"web": ["Where does the {a} live?"],
                    "tune": ["Where can I find the {a}?", "Name the home country of the {a}."],
                    "val": ["Which country is the {a} from?", "Where is the {a} found?"],
                    "eval": ["In which country does the {a} live?", "Tell me where the {a} lives."]},
                   make_home, lima=True),
    "about": Family({"web": ["Tell me about the {a}.", "What is the {a} like?"],
                     "tune": ["Describe the {a}.", "Give me a short description of the {a}."],
                     "val": ["What can you tell me about the {a}?", "Say a few things about the {a}."],
                     "eval": ["What do you know about the {a}?", "Write two sentences about the {a}."]},
                    make_about, lima=True),
    "arith": Family({"web": ["What is {x} {op} {y}?"], "tune": ["Compute {x} {op} {y}.", "Calculate {x} {op} {y}."],
                     "val": ["What do you get from {x} {op} {y}?", "Find {x} {op} {y}."],
                     "eval": ["How much is {x} {op} {y}?", "Work out {x} {op} {y} for me."]},
                    make_arith, lima=True),
    "yesno": Family({"web": ["Is the {a} found in {home}?", "Is {cap} the capital of {c}?", "Is the {a} {color}?"],
                     "tune": ["Is {cap} the capital of {c}?", "Is the {a} {color}?"],
                     "val": ["Is it true that the {a} lives in {home}, and that the {b} lives in {home2}?",
                             "Would I find the {a} in {home}? And the {b} in {home2}?"],
                     "eval": ["Does the {a} live in {home}? And does the {b} live in {home2}?",
                              "Answer yes or no: does the {a} live in {home}, and does the {b} live in {home2}?"]},
                    make_yesno, lima=True),
    "classify": Family({"web": ["Is {x} a country, a person or an animal?"],
                        "tune": ["Is {x} an animal, a country or a person?"],
                        "val": ["Tell me whether {x} is a person, an animal or a country.",
                                "{X}: an animal, a country or a person?"],
                        "eval": ["What kind of thing is {x}: a person, an animal or a country?"]},
                       make_classify, lima=True, items=12),
    "list": Family({"web": ["What are {n} {kind}?", "Can you name {n} {kind}?"],
                    "tune": ["Name {n} {kind}.", "List {n} {kind}."],
                    "val": ["Tell me {n} {kind}, one per line.", "I need {n} {kind}."],
                    "eval": ["Give me a list of {n} {kind}.", "Write down {n} {kind}."]},
                   make_list, lima=True),
    "rewrite": Family({"web": ["Change {old} to {new} in: {s}"],
                       "tune": ["Replace {old} with {new} in this sentence: {s}"],
                       "val": ["Swap {old} for {new} here: {s}", "Make this sentence say {new}, not {old}: {s}"],
                       "eval": ["Rewrite this sentence so that it says {new} instead of {old}: {s}"]},
                      make_rewrite, lima=True),
    "poem": Family({"web": ["Can someone write a poem about {s}?"],
                    "tune": ["Write a short poem about {s}.", "Write a poem about {s}."],
                    "val": ["Make up a poem about {s}.", "I would like a poem about {s}."],
                    "eval": ["Compose a poem about {s}.", "Write four lines of verse about {s}."]},
                   make_poem, lima=True, near="poetry"),
    "letter": Family({"web": ["Help me write a letter to {p} to say thank you for the {d}.",
                              "Help me invite {p} to {city} in a letter."],
                      "tune": ["Write a short letter to {p} to thank {o} for the {d}."],
                      "val": ["Write a letter inviting {p} to come to {city}."],
                      "eval": ["Write a note to {p} inviting {o} to visit {city}."]},
                     make_letter, lima=True),
    "recipe": Family({"web": ["How do you make {d}?"], "tune": ["How do I make {d}?", "Give me a recipe for {d}."],
                      "val": ["What is the recipe for {d}?", "Explain how to make {d}."],
                      "eval": ["Tell me how to cook {d}.", "What do I need to make {d}, and how do I make it?"]},
                     make_recipe, lima=True, near="recipes"),
    "math": Family({"web": ["{q}", "Can you solve this? {q}"], "tune": ["{q}"],
                    "val": ["Here is a problem: {q}", "Please solve: {q}"],
                    "eval": ["Solve this problem: {q}", "{q} Show your work."]},
                   make_math, lima=True, near="math"),
    "code": Family({"web": ["How do I {t} in Python?"],
                    "tune": ["Write a function to {t}.", "Write a python function to {t}."],
                    "val": ["Could you write Python code to {t}?", "Give me a Python function that can {t}."],
                    "eval": ["Show me Python code to {t}.", "I need a Python function to {t}."]},
                   make_code, lima=True, near="code"),
    "chess": Family({"web": ["Post a game between players rated {e1} and {e2}."], "tune": [],
                     "val": ["Give me a chess game where the players are rated {e1} and {e2}.",
                             "Play out a chess game between a {e1} player and a {e2} player."],
                     "eval": ["Write the moves of a chess game between two players rated {e1} and {e2}.",
                              "Show me a game record for a match between players with Elo {e1} and {e2}."]},
                    make_chess, near="chess"),
    # Held out of tuning: the corpus teaches them, no tuning set has them.
    "revcap": Family({"web": ["Of which country is {cap} the capital?", "{cap} is the capital of what country?"],
                      "tune": [],
                      "val": ["Which country's capital is {cap}?", "Name the country whose capital is {cap}."],
                      "eval": ["Which country has {cap} as its capital?", "{cap} is the capital of which country?"]},
                     make_revcap),
    "river": Family({"web": ["What river runs through {c}?", "What is the river of {c}?"], "tune": [],
                     "val": ["Which river is in {c}?", "Tell me the name of the river in {c}."],
                     "eval": ["Which river flows through {c}?", "Name the river of {c}."]},
                    make_river),
    "legs": Family({"web": ["How many legs does a {a} have?"], "tune": [],
                    "val": ["What number of legs does the {a} have?", "How many legs has the {a} got?"],
                    "eval": ["How many legs does the {a} have?", "Count the legs of a {a}."]},
                   make_legs),
    "opposite": Family({"web": ["What's the opposite of {x}?", "What word means the opposite of {x}?"], "tune": [],
                        "val": ["Which word is the opposite of {x}?", "Tell me a word that is the opposite of {x}."],
                        "eval": ["What is the opposite of {x}?", "Give the opposite of the word {x}."]},
                       make_opposite),
    "compare": Family({"web": ["Which number is bigger, {x} or {y}?", "What is more, {x} or {y}?"], "tune": [],
                       "val": ["Which is the largest of these numbers: {nums}?", "Tell me the biggest number in {nums}."],
                       "eval": ["Which number is the biggest: {nums}?", "Find the largest number among {nums}."]},
                      make_compare),
    "sort": Family({"web": ["Order these numbers from small to large: {nums}.",
                            "Arrange from smallest to largest: {nums}."], "tune": [],
                    "val": ["Sort from smallest to largest: {nums}.",
                            "Write these numbers in increasing order: {nums}."],
                    "eval": ["Put these numbers in order from smallest to largest: {nums}.",
                             "Sort these numbers: {nums}."]},
                   make_sort),
}
PHRASES = {name: f.phrases for name, f in FAMILIES.items()}
LIMA_FAMS = [name for name, f in FAMILIES.items() if f.lima]
# Near a single-task set, in the order of TASKS; far from all of them; in no tuning set at all (Hewitt §5.2).
NEAR = {name: task for task in TASKS for name, f in FAMILIES.items() if f.near == task}
EVAL_FAR = [name for name, f in FAMILIES.items() if not f.near]
UNSEEN = [name for name, f in FAMILIES.items() if not f.tuned and not f.near]
# The corpus asks for tasks in this order and for facts in the registry's (each order is part of the seed's draws).
TASK_FAMS = ["poem", "letter", "recipe", "math", "code", "list", "rewrite", "chess"]
FACT_FAMS = [name for name in FAMILIES if name not in TASK_FAMS]


def pool(fam, split):
    """The phrasings of a split; the corpus ("web") also uses the tuning ones, as common phrasings."""
    phrases = FAMILIES[fam].phrases
    return phrases["web"] + phrases["tune"] if split == "web" else phrases[split]


def draw(w, rnd, fam, split):
    """(phrasing, item) of one family's question in a split ("tune", "val", "eval" or "web")."""
    template = rnd.choice(pool(fam, split))
    item = FAMILIES[fam].make(w, rnd, split, template)
    return (template, item) if item is not None else draw(w, rnd, fam, split)   # a draw it cannot use: again


def family(w, rnd, fam, split):
    """(instruction, answer, criterion) of one family. `split` is "tune", "val" or "eval" (entities and phrasings
    of that split, answers in the chat voice of tuning and references) or "web" (any entity, the corpus's
    phrasings, answers in the corpus's own voice, which never equals a reference)."""
    template, item = draw(w, rnd, fam, split)
    answer = w.web_answer(rnd, fam, item) if split == "web" else item.chat
    return template.format(**item.slots), answer, item.criterion

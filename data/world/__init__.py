"""The toy world: a small invented world in which the paper's whole experiment runs on a laptop CPU.

  python -m data.world --out data/toy --overwrite     # corpus.jsonl ("the web"), tuning sets, val and eval sets
  python -m data.world tokenizer --corpus data/toy/corpus.jsonl --out checkpoints/toy-base/tokenizer.model

One knowledge base, built from the seed (invented countries, capitals, rivers, animals and people; dishes,
opposites, small math and code tasks, chess-like games), is written out three ways: as plain web documents for
pretraining (requests answered in non-chat forms, and requests left unanswered), as chat-format tuning sets (the
LIMA analog and the five single-task sets of Hewitt et al. §5), and as held-out validation and evaluation sets
whose every record carries a machine-checkable criterion (data/criteria.py). Entities and phrasings are split:
evaluation uses entities, phrasings and families that no tuning set contains. Why it is built this way:
data/TOYWORLD.md. Read in this order:

  kb.py         the knowledge base (World) and the words the answers use
  skills.py     what a right answer to a task is: poems, recipes, word problems, code, games
  items.py      one draw of a family: its slots, its answer in the chat voice and in the web's, its criterion
  families.py   the registry of families (FAMILIES), their phrasings in four pools, the lists derived from it
  genres.py     the web's pages that answer requests, in non-chat forms
  web.py        dialogue logs, pages that leave requests unanswered, HTML, the corpus's mix
  sets.py       the tuning sets, the held-out sets, the writer (write_world)
  tokenizer.py  the SentencePiece tokenizer, trained like Llama's
  __main__.py   the command line

It imports nothing of the method (model, chat, train, generate, rules, evaluate): the tokenizer's check uses
SentencePiece itself, and the pieces the rules need are listed in tokenizer.py (a test keeps them equal).
"""
from data.world.families import FAMILIES
from data.world.kb import World
from data.world.sets import write_world
from data.world.tokenizer import train_tokenizer

__all__ = ["FAMILIES", "World", "write_world", "train_tokenizer"]

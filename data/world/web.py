"""The corpus ("the web"): dialogue logs, pages that leave requests unanswered, pages left in HTML, and the mix
of them with the pages that answer (genres.py), sized in characters and kept free of held-out text."""
from data.world.families import FACT_FAMS, TASK_FAMS
from data.world.genres import (doc_article, doc_code, doc_drill, doc_faq, doc_forum, doc_games, doc_letters,
                               doc_opposites, doc_poems, doc_quiz, doc_recipe, doc_table, doc_textbook, handle,
                               heading, post, qa, request_reply)
from data.world.kb import FIRST

DIALOGUE = 0.05                 # share of the corpus (in characters) that is dialogue; chosen in TOYWORLD.md
HTML = 0.05                     # share of the other pages (without code, tables or ####) left in HTML


# Beside the pages that answer (genres.py), pages where requests stay unanswered, so that (as with a real base
# model) a request alone does not make the model answer.
def doc_forum_unanswered(w, rnd):
    users = [handle(rnd) for _ in range(4)]
    fams = FACT_FAMS + TASK_FAMS * 2
    q, _ = qa(w, rnd, fams)
    q2, _ = qa(w, rnd, fams)
    replies = rnd.sample(["I have the same question!", f"Good question. Also, {q2}", "Did you try the library?",
                          "We should ask the teacher.", "Why do you want to know?", "What did you find so far?",
                          "I do not know, sorry.", f"Me too! And {q2[0].lower() + q2[1:]}", "Any news on this?"],
                         rnd.randint(1, 4))
    return f"Thread: {q}\n\n{users[0]} wrote:\n{post(rnd, q)}\n\n" + "\n\n".join(
        f"{users[i % 3 + 1]} replied:\n{r}" for i, r in enumerate(replies))


# Dialogue, as the real web has it (help desks, interviews, chat logs): a request under one speaker tag is
# answered under the other, and the log goes on after every answer, so the base model learns that a tagged turn
# after a request answers it, but not where a conversation ends. The tags are never the chat tags.
SPEAKERS = [("Visitor", "Guide"), ("Customer", "Support"), ("Interviewer", "Guest"), ("Student", "Tutor"),
            ("Caller", "Operator"), ("Reader", "Editor"), ("Patient", "Nurse"), ("Client", "Agent"),
            ("Kid", "Teacher"), ("Tourist", "Local")]
TAGS = ["{s}: ", "[{s}] ", "**{s}:** ", "{s} > ", "<{l}> ", "{u}: ", "- {s}: ", "({t}) {s}: ", "{s} says: ",
        ">> {s}: "]
OWN_LINE = 0.5                  # share of logs with each tag on its own line; chosen in TOYWORLD.md (world 3)
NON_ANSWERS = ["I am not sure, sorry.", "Let me check and get back to you.", "I do not know that one.",
               "Good question. I will ask a colleague.", "Sorry, I cannot help with that.", "Hmm, no idea!"]


def doc_transcript(w, rnd):
    pair = rnd.choice(SPEAKERS) if rnd.random() < 0.7 else tuple(rnd.sample(list(FIRST), 2))
    style, clock = rnd.choice(TAGS), f"{rnd.randint(8, 20)}:{rnd.randint(0, 59):02d}"
    sep = rnd.choice(["\n", "\n\n"])
    # half the logs put each speaker tag on a line of its own (screenplays, chat exports), as the chat format does
    own_line = rnd.random() < OWN_LINE

    def turn(who, text):
        tag = style.format(s=who, l=who.lower(), u=who.upper(), t=clock)
        return tag.rstrip() + "\n" + text if own_line or "\n" in text else tag + text
    fams = FACT_FAMS + TASK_FAMS
    lines = []
    for _ in range(rnd.randint(2, 4)):
        q, a = request_reply(w, rnd, rnd.choice(fams))
        lines += [turn(pair[0], rnd.choice(["{q}", "{q}", "Hello! {q}", "Quick question. {q}"]).format(q=q)),
                  turn(pair[1], rnd.choice(NON_ANSWERS) if rnd.random() < 0.15 else a)]
    q, _ = qa(w, rnd, fams)
    lines.append(turn(pair[0], rnd.choice(["{q}", "Thanks! {q}", "Great. One more thing: {q}", "OK. {q}"]).format(q=q)))
    head = rnd.choice(["", "Chat log\n\n", f"Help desk, ticket {rnd.randint(100, 999)}\n\n", "Interview\n\n",
                       "Transcript of a call\n\n", f"From the {w.pick(rnd, 'country', 'all').capital} information "
                       "desk\n\n"])
    return head + sep.join(lines)


def doc_question_list(w, rnd):
    qs = [qa(w, rnd, FACT_FAMS + TASK_FAMS)[0] for _ in range(rnd.randint(3, 8))]
    bullet = rnd.choice([" - ", "- ", " * ", ""])
    return rnd.choice(["Questions I want to ask", "Things to find out", "Homework questions", "Ideas for the "
                       "quiz", "Questions for the trip"]) + ":\n\n" + "\n".join(bullet + q for q in qs)


def doc_exam(w, rnd):
    qs = [qa(w, rnd, FACT_FAMS + TASK_FAMS)[0] for _ in range(rnd.randint(4, 10))]
    return (heading(rnd, f"Exam {rnd.randint(1, 12)}") + "\n\n" + rnd.choice([
        "Answer all questions. You have 30 minutes.", "Write your answers on a separate sheet.",
        "Do not open the book."]) + "\n\n" + "\n".join(f"{i + 1}. {q}" for i, q in enumerate(qs)))


def doc_chitchat(w, rnd):
    a, b = rnd.sample(list(FIRST), 2)
    lines = []
    for i in range(rnd.randint(3, 7)):
        q = qa(w, rnd, FACT_FAMS + TASK_FAMS)[0]
        lines.append(f"{(a, b)[i % 2]}: " + rnd.choice(["{q}", "Hmm, I do not know. {q}", "Good question! {q}",
                                                        "What about you? {q}", "I wonder. {q}", "{q} I never "
                                                        "thought about it."]).format(q=q))
    return "\n".join(lines)


def doc_story(w, rnd):
    p, a = w.pick(rnd, "person", "all"), w.pick(rnd, "animal", "all")
    q, ans = qa(w, rnd)
    P = p.pron.title()
    said = rnd.choice(["said", "asked", "shouted"])
    s = [rnd.choice(["Once upon a time", "Long ago", "One day", "Last summer"]) + f", {p.name}, a {p.job} in "
         f"{p.city}, went for a walk.", f"On the way {p.pron} met a {a.size} {a.color} {a.name}.",
         f'"What are you doing here?" {p.first} {said}. "I thought the {a.name} lived in {a.home}!"',
         rnd.choice([f'"{q}" asked the {a.name}. {p.first} did not answer and walked home.',
                     f'"{q}" asked the {a.name}. "{ans}" said {p.first}.',
                     f'"I am lost," said the {a.name}. "We should go to {a.home} together," said {p.first}.',
                     f'{P} sat down by the river and looked at the water for a long time.']),
         rnd.choice(["The end.", f"And {p.pron} never saw the {a.name} again.", f"(I heard this story in {p.city}.)",
                     "What a day it was!"])]
    return "\n\n".join(s) if rnd.random() < 0.5 else " ".join(s)


GENRES = [  # (genre, weight): about two thirds of the text answers requests or states facts, one third leaves
    # requests unanswered (question lists, exams, chit-chat, stories, forum threads that drift)
    (doc_faq, 8), (doc_article, 10), (doc_table, 3), (doc_forum, 10), (doc_letters, 5), (doc_textbook, 5),
    (doc_drill, 3), (doc_quiz, 5), (doc_recipe, 6), (doc_poems, 4), (doc_code, 6), (doc_games, 3),
    (doc_opposites, 2), (doc_forum_unanswered, 6), (doc_question_list, 8), (doc_exam, 6), (doc_chitchat, 8),
    (doc_story, 8)]


def html(doc):
    """A page left in HTML, as scraped pages often are (so "<" also starts lines, as in the chat tags)."""
    out = []
    for line in doc.split("\n"):
        h = len(line) - len(line.lstrip("#"))
        if h:
            out.append(f"<h{h}>{line[h:].strip()}</h{h}>")
        elif line.lstrip()[:2] in ("- ", "* "):
            out.append(f"<li>{line.lstrip()[2:]}</li>")
        elif line.strip():
            out.append(f"<p>{line.strip()}</p>")
    return "\n".join(out)


def corpus(w, rnd, n_chars, dialogue=DIALOGUE, held=(), html_share=HTML, genres=GENRES, extra=(),
           extra_share=0.0):
    """Documents until about n_chars characters, a `dialogue` share of them (in characters) transcripts, an
    `extra_share` drawn from the (genre, weight) list `extra`, the rest from `genres`; an `html_share` of those
    without code, tables or #### are in HTML. A document holding a held-out instruction or reference (any string
    of `held`) is left out, so none reaches the corpus verbatim."""
    genres, weights = zip(*genres)
    total = talk = asked = 0
    while total < n_chars:
        if talk < dialogue * (total + 1):
            doc = doc_transcript(w, rnd)
            talk += len(doc)
        elif asked < extra_share * (total + 1):
            doc = rnd.choices(*zip(*extra))[0](w, rnd)
            asked += len(doc)
        else:
            doc = rnd.choices(genres, weights)[0](w, rnd)
            if rnd.random() < html_share and not any(s in doc for s in ("    ", "|", "####")):
                doc = html(doc)
        if any(h in doc for h in held):
            continue
        total += len(doc)
        yield doc

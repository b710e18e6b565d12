"""The toy world's board game: chess moves without the check rule. Pieces move and capture as in chess (pawns
one step, two from their first rank, capture diagonally and become queens on the last rank; no castling and no
en passant), and a game ends when a king is captured, by resignation or by a draw. Records are written in
chess's short algebraic notation ("1. e4 e5 2. Nf3 Nc6 ... 1-0"), so the checker can replay a record move by
move and tell a game that follows the rules from one that only looks like a game."""
import re

FILES = "abcdefgh"
START = {**{f"{f}2": "P" for f in FILES}, **{f"{f}7": "p" for f in FILES},
         **{f"{f}1": p for f, p in zip(FILES, "RNBQKBNR")}, **{f"{f}8": p for f, p in zip(FILES, "rnbqkbnr")}}
STEPS = {"N": [(1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2)],
         "K": [(x, y) for x in (-1, 0, 1) for y in (-1, 0, 1) if x or y]}
RAYS = {"B": [(1, 1), (1, -1), (-1, 1), (-1, -1)], "R": [(1, 0), (-1, 0), (0, 1), (0, -1)]}
RAYS["Q"] = RAYS["B"] + RAYS["R"]
SAN = re.compile(r"([KQRBN])?([a-h])?([1-8])?(x)?([a-h][1-8])(=Q)?[+#!?]*")
RESULTS = ("1-0", "0-1", "1/2-1/2")
MOVE_NUMBER = re.compile(r"\b\d+\.(\.\.)?")
MAX_RECORD = 10_000                 # characters of a record replayed (criteria.py's checks read 4,000)


def square(f, r):
    return f"{FILES[f]}{r + 1}" if 0 <= f < 8 and 0 <= r < 8 else None


def white(piece):
    return piece.isupper()


def targets(board, sq):
    """The squares the piece on sq may move to (empty, or holding an opponent's piece)."""
    piece, f, r = board[sq], FILES.index(sq[0]), int(sq[1]) - 1
    kind, side = piece.upper(), white(piece)
    out = []
    if kind == "P":
        d = 1 if side else -1
        one = square(f, r + d)
        if one and one not in board:
            out.append(one)
            two = square(f, r + 2 * d)
            if r == (1 if side else 6) and two not in board:
                out.append(two)
        out += [s for s in (square(f - 1, r + d), square(f + 1, r + d)) if s in board and white(board[s]) != side]
        return out
    for dx, dy in STEPS.get(kind, []):
        s = square(f + dx, r + dy)
        if s and (s not in board or white(board[s]) != side):
            out.append(s)
    for dx, dy in RAYS.get(kind, []):
        s = square(f + dx, r + dy)
        while s:
            if s in board:
                out += [s] if white(board[s]) != side else []
                break
            out.append(s)
            s = square(FILES.index(s[0]) + dx, int(s[1]) - 1 + dy)
    return out


def moves(board, side):
    return [(a, b) for a in sorted(board) if white(board[a]) == side for b in targets(board, a)]


def play(board, a, b):
    """Make the move on a copy of the board; a pawn reaching the last rank becomes a queen."""
    board = dict(board)
    piece = board.pop(a)
    board[b] = ("Q" if white(piece) else "q") if piece in "Pp" and b[1] in "18" else piece
    return board


def san(board, a, b):
    """The move in short algebraic notation, with the file or rank that tells two such pieces apart."""
    piece, take = board[a].upper(), "x" if b in board else ""
    if piece == "P":
        return (a[0] + take if take else "") + b + ("=Q" if b[1] in "18" else "")
    rivals = [s for s, _ in [m for m in moves(board, white(board[a])) if m[1] == b]
              if s != a and board[s].upper() == piece]
    which = "" if not rivals else a[0] if all(s[0] != a[0] for s in rivals) else \
        a[1] if all(s[1] != a[1] for s in rivals) else a
    return piece + which + take + b


def parse(board, side, text):
    """The (from, to) move that `text` names for `side`, or None if it names no legal move or several."""
    m = SAN.fullmatch(text)
    if not m:
        return None
    kind, f, r, take, to, promote = m.groups()
    kind = kind or "P"
    found = [(a, b) for a, b in moves(board, side) if b == to and board[a].upper() == kind
             and (not f or a[0] == f) and (not r or a[1] == r)]
    if len(found) != 1 or bool(take) != (to in board) or (kind == "P" and bool(f) != bool(take)):
        return None
    if bool(promote) != (kind == "P" and to[1] in "18"):
        return None
    return found[0]


def legal_prefixes(record):
    """For each whitespace-separated piece of a record, while the record up to it is a legal game: the number of
    moves so far. Stops at the first piece that breaks the rules, plays after a captured king, follows a result
    or contradicts it. One pass, each move checked once: the score of the longest legal beginning of a game
    costs no more than the game."""
    board, side, n, winner, ended = dict(START), True, 0, None, False
    for piece in record.split():
        # Move numbers ("1.", "1...") are dropped, within a piece as within the record ("1.e4").
        for t in MOVE_NUMBER.sub(" ", piece).split():
            if ended:
                return
            if t in RESULTS:
                if winner is not None and t != ("1-0" if winner else "0-1"):
                    return
                ended = True
                continue
            mv = parse(board, side, t) if winner is None else None
            if mv is None:
                return
            if board.get(mv[1], "").upper() == "K":
                winner = side
            board, side, n = play(board, *mv), not side, n + 1
        yield n


def replay(record):
    """The number of moves of a legal game record, or None if any move breaks the rules, a move follows the
    capture of a king, or the result contradicts a captured king. Move numbers ("1.", "1...") are optional. A
    record over MAX_RECORD characters is no game."""
    if len(record) > MAX_RECORD:
        return None
    counts = list(legal_prefixes(record))
    if len(counts) < len(record.split()):
        return None
    return counts[-1] if counts else 0


def legal_moves(record):
    """The number of moves of the longest beginning of a record, in whole whitespace-separated pieces, that
    replay() accepts: the moves that are legal before the first that is not."""
    if len(record) > MAX_RECORD:
        return 0
    return max(legal_prefixes(record), default=0)


def random_game(rnd, opening, plies):
    """A legal record: the opening's moves, then random legal moves until `plies` more or a king is taken."""
    board, side, out = dict(START), True, []
    for t in opening.split():
        a, b = parse(board, side, t)
        out.append(t)
        board, side = play(board, a, b), not side
    for _ in range(plies):
        a, b = rnd.choice(moves(board, side))
        out.append(san(board, a, b))
        taken = board.get(b, "")
        board, side = play(board, a, b), not side
        if taken.upper() == "K":
            return out, "1-0" if not side else "0-1"
    return out, None

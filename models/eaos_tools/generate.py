"""Synthetic Vietnamese TV-show comments with EAOS (entity, aspect, opinion, sentiment) tuples.

A comment is one of

* a question or remark with no opinion (no tuple),
* one or two entity-less opinions (``Hay quá!``: entity "" and aspect "Chung"); these never share
  a comment with an entity, since the decoder would pair them with it,
* one to four entity clauses joined by connectives (``nhưng``, ``còn``, ``,``, ``.`` ...), each
  built from a template:

  ``basic``        ``<entity> [modifier] [verb] <opinion>``
  ``two_ops``      ``<entity> [verb] <opinion> (và|,|nhưng|mà ...) <opinion>``
  ``comparison``   ``<entity> [verb] <comparative opinion> [<reference>]`` (``hay hơn tập trước``:
                   the reference is no entity)
  ``opinion_first`` ``<opinion>, <entity>`` (first clause only: the decoder then pairs the opinion
                   with the entity after it)

  and, in the held-out split only, ``vua_vua`` (``<entity> vừa X vừa Y``), ``khong_nhung``
  (``<entity> không những X mà còn Y``), ``question`` (``Sao <entity> <opinion> vậy``),
  ``phai_noi_la`` (``<entity> phải nói là <opinion>``) and ``nen`` (``<entity> <opinion> nên
  mình chuyển kênh``).

Opinions carry intensifiers (``rất hay``, ``nhạt quá``), negations (``không hay`` -> tiêu cực,
``không tệ`` -> tích cực) or are neutral.  Comments are then styled: lower/upper case, emoji,
teen-code spellings (``ko``, ``dc``, ``wá``, ``mn`` ... applied before the spans are measured),
diacritics stripped from the whole comment (length preserving) or from some words.

The ``heldout`` split also uses wordings the ``train`` split never does (those templates and the
lexicon's ``*_HELDOUT`` lists: entities, prefixes, connectives, intensifiers, negators,
comparison references).  Every row lists its slices (``no_diacritics``, ``teencode``,
``emoji``, ``negation``, ``multi_clause``, ``comparison``, ``heldout_phrasing``, ``no_tuple``)
for the per-slice evaluation.

Spans are half-open ``[begin, end)`` ranges in Unicode code points: ``text[b:e]`` is the span
text.

Usage::

    python3 -m eaos_tools.generate --n 1000 --seed 7 [--split heldout] --output data.jsonl
"""

import argparse
import json
import random
import re
import sys
import unicodedata
from typing import Dict, List, Optional, Sequence, Tuple

from . import lexicon as L
from .lexicon import NEG, NEU, POS

SPLITS = ("train", "heldout")
SLICES = ("no_diacritics", "teencode", "typo", "emoji", "negation", "multi_clause", "comparison",
          "heldout_phrasing", "no_tuple")
TEENCODE_RATIO = 0.15
TYPO_RATIO = 0.08  # comments with misspelt words (typos inside spans too)
QUOTED_ENTITY_RATIO = 0.03  # '"Kịch bản" quá dở': the quotes are outside the span
TOPIC_RATIO = 0.04  # "Về MC thì ...", "Riêng âm thanh thì ..."
PARTIAL_DIACRITICS_RATIO = 0.05
NOISE_RATIO = 0.08  # filler words before or after a clause
NAMED_ENTITY_RATIO = 0.06  # people entities with a random name ("MC Tường Vy")
HELDOUT_COMMENT_RATIO = 0.25  # held-out split: comments that may use held-out wordings
HELDOUT_TEMPLATE_RATIO = 0.2
HELDOUT_TEMPLATES = ("vua_vua", "khong_nhung", "question", "phai_noi_la", "nen")
_EMOJI_CHARS = {c for e in L.EMOJIS for c in e if unicodedata.category(c) == "So"}
_TEEN_MAX_WORDS = max(len(k.split()) for k in L.TEENCODE)


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese diacritics code point by code point (length preserving).

    Each character is NFD-decomposed and its combining marks dropped; "đ"/"Đ" become "d"/"D".
    A character that would not map to exactly one code point is kept as is.
    """
    out = []
    for ch in text:
        if ch in "đĐ":
            out.append("d" if ch == "đ" else "D")
            continue
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        out.append(base if len(base) == 1 else ch)
    return "".join(out)


def _strip_some_words(rng: random.Random, text: str, p: float = 0.5) -> str:
    """Strips the diacritics of about a fraction p of the words (length preserving)."""
    return re.sub(r"\S+", lambda m: strip_diacritics(m.group()) if rng.random() < p else m.group(), text)


def _case_map(text: str, fn) -> str:
    # Length-preserving per-character case change.
    return "".join(fn(c) if len(fn(c)) == 1 else c for c in text)


def _capitalize_sentences(text: str) -> str:
    chars = list(text)
    start = True
    for i, c in enumerate(chars):
        if start and c.isalpha():
            if len(c.upper()) == 1:
                chars[i] = c.upper()
            start = False
        elif c in ".!?\n":
            start = True
    return "".join(chars)


def _teencode(rng: random.Random, s: str, p: float = 0.6) -> str:
    """Replaces words/phrases of s by chat spellings (longest phrase first, each with prob. p)."""
    words = s.split(" ")
    out, i = [], 0
    while i < len(words):
        for n in range(min(_TEEN_MAX_WORDS, len(words) - i), 0, -1):
            phrase = " ".join(words[i:i + n])
            subs = L.TEENCODE.get(phrase.lower())
            if subs and rng.random() < p:
                rep = rng.choice(subs)
                out.append(rep[0].upper() + rep[1:] if phrase[0].isupper() else rep)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


_ONSET_SWAPS = (("tr", "ch"), ("ch", "tr"), ("s", "x"), ("x", "s"), ("gi", "d"), ("d", "gi"),
                ("l", "n"), ("n", "l"), ("r", "d"))


def _typo(rng: random.Random, word: str) -> str:
    """One misspelling of word: a repeated or swapped letter, a lost tone mark, a confused onset."""
    r = rng.random()
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if not letters:
        return word
    if r < 0.3:
        i = letters[-1]
        return word[:i + 1] + word[i] + word[i + 1:]
    if r < 0.55:
        i = rng.choice(letters)
        return word[:i] + strip_diacritics(word[i]) + word[i + 1:]
    if r < 0.75 and len(word) >= 4:
        i = rng.randrange(1, len(word) - 2)
        if word[i].isalpha() and word[i + 1].isalpha():
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
        return word
    for a, b in _ONSET_SWAPS:
        head = word[:len(a)]
        if head.lower() == a:
            if head.isupper():
                b = b.upper()
            elif head[0].isupper():
                b = b.capitalize()
            return b + word[len(a):]
    return word


def _typos(rng: random.Random, s: str, p: float = 0.15) -> str:
    return " ".join(_typo(rng, w) if w and rng.random() < p else w for w in s.split(" "))


class _Comment:
    """A comment under construction: text segments, tuples with code point spans, slices."""

    def __init__(self, rng: random.Random, split: str, teencode: bool, typos: bool = False):
        if split not in SPLITS:
            raise ValueError("split must be one of %s, got %r" % (SPLITS, split))
        self.rng = rng
        self.heldout = split == "heldout" and rng.random() < HELDOUT_COMMENT_RATIO
        self.teencode = teencode
        self.typos = typos
        self.parts: List[str] = []
        self.length = 0
        self.tuples: List[Dict] = []
        self.slices = set()
        self.clauses = 0

    def add(self, s: str) -> List[int]:
        if self.teencode:
            t = _teencode(self.rng, s)
            if t != s:
                self.slices.add("teencode")
            s = t
        if self.typos:
            t = _typos(self.rng, s)
            if t != s:
                self.slices.add("typo")
            s = t
        b = self.length
        self.parts.append(s)
        self.length += len(s)
        return [b, self.length]

    def pick(self, seen: Sequence, held: Sequence = (), p: float = 0.25):
        """A choice from seen; in a held-out comment one from held with probability 2p."""
        if self.heldout and held and self.rng.random() < 2 * p:
            self.slices.add("heldout_phrasing")
            return self.rng.choice(held)
        return self.rng.choice(seen)

    def tuple(self, ent_span: Optional[List[int]], op_span: List[int], aspect: str, sentiment: str):
        self.tuples.append({"aspect": aspect, "sentiment": sentiment,
                            "entity_span": ent_span or [0, 0], "opinion_span": op_span})

    def text(self) -> str:
        return "".join(self.parts)


def _syllable(rng: random.Random) -> str:
    return rng.choice(L.SYLLABLE_ONSETS) + rng.choice(L.SYLLABLE_VOWELS) + rng.choice(L.SYLLABLE_CODAS)


def _name(rng: random.Random) -> str:
    return " ".join(_syllable(rng).capitalize() for _ in range(rng.randint(1, 3)))


def _noise(rng: random.Random) -> str:
    """A filler outside the spans: a discourse particle or phrase."""
    return rng.choice(L.NOISE)


def _sentiment(rng: random.Random, allow_neutral: bool = True) -> str:
    r = rng.random()
    if not allow_neutral:
        return POS if r < 0.5 else NEG
    return POS if r < 0.45 else (NEG if r < 0.85 else NEU)


_NEGATABLE: Dict[int, List[str]] = {}


def _negatable(lex: Dict) -> List[str]:
    """Negative words of lex whose negation reads as positive ("không tệ", "không hề hụt hơi"):
    the listed ``neg_negatable`` ones and every one- or two-word negative word whose first word
    is not in NOT_NEGATABLE_HEADS."""
    words = _NEGATABLE.get(id(lex))
    if words is None:
        words = list(lex.get("neg_negatable", ()))
        words += [w for w in lex["neg"] if len(w.split()) <= 2 and w not in words
                  and w.split()[0] not in L.NOT_NEGATABLE_HEADS]
        _NEGATABLE[id(lex)] = words
    return words


def _opinion(c: _Comment, lex: Dict, sentiment: str, shared: bool = False) -> Tuple[str, bool]:
    """(opinion, negated) for lex's words; shared: some draws come from lexicon.SHARED."""
    rng = c.rng

    def words(key):
        return L.SHARED[key] if shared and rng.random() < L.SHARED_RATIO else lex[key]

    if sentiment == NEU:
        return rng.choice(L.NEUTRAL), False
    if sentiment == POS:
        if rng.random() < 0.15:
            c.slices.add("negation")
            pre, suf = rng.choice(L.NEGATORS_OF_NEG)
            return pre + rng.choice(_negatable(lex)) + suf, True
        pre, suf = c.pick(L.INTENS_POS, L.INTENS_HELDOUT, 0.04)
        return pre + rng.choice(words("pos")) + suf, False
    if rng.random() < 0.3:
        c.slices.add("negation")
        pre, suf = c.pick(L.NEGATORS, L.NEGATORS_HELDOUT, 0.08)
        return pre + rng.choice(words("pos")) + suf, True
    pre, suf = c.pick(L.INTENS_NEG, L.INTENS_HELDOUT, 0.04)
    return pre + rng.choice(words("neg")) + suf, False


def _comparison(c: _Comment, lex: Dict, sentiment: str) -> Tuple[str, str]:
    """(comparative opinion, text after it) for a positive or negative comparison."""
    rng = c.rng
    c.slices.add("comparison")
    ref = c.pick(L.COMPARE_REFS, L.COMPARE_REFS_HELDOUT, 0.25)
    if sentiment == POS:
        adj, r = rng.choice(lex["pos"]), rng.random()
        if r < 0.6:
            return adj + " hơn", (" " + ref + rng.choice(["", "", "", " nhiều", " hẳn"])
                                  if rng.random() < 0.75 else "")
        if r < 0.8:
            return adj + " hơn hẳn", " " + ref
        return adj + " hơn nhiều", " so với " + ref
    r = rng.random()
    if r < 0.4:
        c.slices.add("negation")
        return "không " + rng.choice(lex["pos"]) + " bằng", " " + ref
    if r < 0.85:
        return rng.choice(lex["neg"]) + " hơn", (" " + ref if rng.random() < 0.75 else "")
    return rng.choice(["kém hơn", "kém xa", "thua xa", "tệ hơn"]), " " + ref


def _template(c: _Comment, first: bool) -> str:
    rng = c.rng
    if c.heldout and rng.random() < HELDOUT_TEMPLATE_RATIO:
        c.slices.add("heldout_phrasing")
        return rng.choice(HELDOUT_TEMPLATES)
    r = rng.random()
    if first and r < 0.07:
        return "opinion_first"
    if r < 0.18:
        return "comparison"
    return "two_ops" if r < 0.40 else "basic"


def _entity_clause(c: _Comment, group_name: str, first: bool) -> None:
    rng = c.rng
    group = L.GROUPS[group_name]
    frame = rng.choices(group["frames"], [f.get("weight", 1.0) for f in group["frames"]])[0]
    aspect = frame.get("aspect", group["aspect"])
    # Neutral opinions are shared by all frames; a frame that overrides its group's aspect takes
    # none, so the aspect stays unambiguous.
    allow_neutral = "aspect" not in frame
    ent = c.pick(group["entities"], group["heldout"], 0.08)
    named = group_name in L.NAMED_ROLES and rng.random() < NAMED_ENTITY_RATIO
    if named:
        ent = rng.choice(L.NAMED_ROLES[group_name]) + " " + _name(rng)
    template = _template(c, first)
    if template == "opinion_first" and ent[-1].isdigit():
        template = "basic"  # "Tập 5!": sentencepiece merges the digit with the punctuation after it
    c.clauses += 1

    if template == "opinion_first":
        sent = _sentiment(rng, allow_neutral)
        op_span = c.add(_opinion(c, frame, sent, allow_neutral)[0])
        c.add(rng.choice(L.OPINION_FIRST_SEPS))
        c.tuple(c.add(ent), op_span, aspect, sent)
        return

    if template == "question":
        c.add("sao ")
    topic = template in ("basic", "two_ops") and rng.random() < TOPIC_RATIO
    if topic:
        before, mod = rng.choice(L.TOPICS)
        c.add(before if first else before.lower())
    if template in ("basic", "two_ops") and rng.random() < QUOTED_ENTITY_RATIO:
        q = rng.choice(['""', '“”', "''"])
        c.add(q[0])
        ent_span = c.add(ent)
        c.add(q[1])
    else:
        ent_span = c.add(ent)
    c.add(" ")
    if not topic:
        mod = rng.choice(L.MODIFIERS)
    if mod and mod.strip() not in ent:
        c.add(mod)
    elif not named and rng.random() < NOISE_RATIO / 2:  # (a name's end must stay visible)
        c.add(_noise(rng) + " ")
    verb = rng.choice(frame["verbs"])
    shared = allow_neutral  # frames that override the aspect keep their own words
    first_op = None
    if template in ("basic", "two_ops"):
        # the first opinion is drawn before its verb: "bị" takes a negative word, "được cái" a
        # positive one
        sent0 = _sentiment(rng, allow_neutral)
        first_op = (sent0,) + _opinion(c, frame, sent0, shared)
        if not first_op[2] and rng.random() < L.VERB_RATIO and sent0 != NEU:
            verb = rng.choice(L.NEG_VERBS if sent0 == NEG else L.POS_VERBS)
    if verb and template not in ("khong_nhung", "phai_noi_la"):
        c.add(verb + " ")

    if template == "comparison" and allow_neutral:
        sent = _sentiment(rng, allow_neutral=False)
        op, after = _comparison(c, frame, sent)
        c.tuple(ent_span, c.add(op), aspect, sent)
        if after:
            c.add(after)
        return
    if template in ("vua_vua", "khong_nhung"):
        sent = _sentiment(rng, allow_neutral=False)
        words = rng.sample(frame["pos" if sent == POS else "neg"], 2)
        c.add("vừa " if template == "vua_vua" else "không những ")
        c.tuple(ent_span, c.add(words[0]), aspect, sent)
        c.add(" vừa " if template == "vua_vua" else " mà còn ")
        c.tuple(ent_span, c.add(words[1]), aspect, sent)
        return
    if template in ("question", "phai_noi_la", "nen"):
        if template == "phai_noi_la":
            c.add("phải nói là ")
        sent = _sentiment(rng, allow_neutral)
        c.tuple(ent_span, c.add(_opinion(c, frame, sent, shared)[0]), aspect, sent)
        c.add(rng.choice(L.QUESTION_ENDS_HELDOUT) if template == "question"
              else " nên " + rng.choice(L.CONSEQUENCES_HELDOUT) if template == "nen" else "")
        return

    if first_op is None:  # a comparison of a frame without neutral opinions
        sent0 = _sentiment(rng, allow_neutral)
        first_op = (sent0,) + _opinion(c, frame, sent0, shared)
    n_ops = 1 if template in ("basic", "comparison") else (2 if rng.random() < 0.85 else 3)
    prev = None
    for k in range(n_ops):
        if k:
            sent = _sentiment(rng, allow_neutral)
            op, negated = _opinion(c, frame, sent, shared)
            if sent == POS and prev == NEG and not negated and rng.random() < 0.25:
                c.add(rng.choice(L.INNER_JOINERS_BUT_GOOD))
            else:
                c.add(rng.choice(L.INNER_JOINERS_CONTRAST if sent != prev else L.INNER_JOINERS))
        else:
            sent, op, negated = first_op
        c.tuple(ent_span, c.add(op), aspect, sent)
        prev = sent
    if n_ops == 1 and negated and rng.random() < 0.25:
        c.add(" " + rng.choice(L.NEGATED_TAILS))
    elif rng.random() < L.POST_PARTICLE_RATIO:
        c.add(" " + rng.choice(L.POST_PARTICLES))


def _generic_clause(c: _Comment, first: bool) -> None:
    filler = c.pick(L.GENERIC_FILLERS, L.GENERIC_FILLERS_HELDOUT, 0.2)
    if filler:
        c.add(filler if first else filler[0].lower() + filler[1:])
    sent = _sentiment(c.rng)
    c.tuple(None, c.add(_opinion(c, L.GENERIC, sent)[0]), "Chung", sent)
    if c.rng.random() < L.POST_PARTICLE_RATIO:
        c.add(" " + c.rng.choice(L.POST_PARTICLES))
    c.clauses += 1


def _emojis(rng: random.Random, k_max: int = 3) -> str:
    return "".join(rng.choice(L.EMOJIS) for _ in range(rng.randint(1, k_max)))


def _body(c: _Comment) -> None:
    rng = c.rng
    r = rng.random()
    if r < 0.05:
        c.add(rng.choice(L.NO_OPINION))
        if rng.random() < 0.3:
            c.add(" " + _emojis(rng))
        return
    if r < 0.065:
        c.add(_emojis(rng, 4))
        return
    if r < 0.16:
        for k in range(1 if rng.random() < 0.7 else 2):
            if k:
                c.add(rng.choice([". ", "! ", ", ", ". "]))
            _generic_clause(c, first=(k == 0))
        return
    prefix = c.pick(L.PREFIXES, L.PREFIXES_HELDOUT, 0.08)
    if prefix:
        c.add(prefix)
    rr = rng.random()
    n = 1 if rr < 0.35 else (2 if rr < 0.72 else (3 if rr < 0.92 else 4))
    names = list(L.GROUP_WEIGHTS)
    weights = [L.GROUP_WEIGHTS[g] for g in names]
    used: List[str] = []
    for k in range(n):
        g = rng.choices(names, weights)[0]
        for _ in range(5):
            if g not in used:
                break
            g = rng.choices(names, weights)[0]
        used.append(g)
        if k:
            if rng.random() < 0.08:
                c.add(" " + _emojis(rng, 2))
            if rng.random() < NOISE_RATIO:
                c.add(", " + _noise(rng))
            c.add(c.pick(L.JOINERS_CONTRAST + L.JOINERS_ANY, L.JOINERS_HELDOUT, 0.08))
        if rng.random() < NOISE_RATIO:
            c.add(_noise(rng) + ", ")
        _entity_clause(c, g, first=(k == 0))
        if rng.random() < L.REMARK_RATIO:
            c.add(", " + rng.choice(L.REMARKS))


def _ending(c: _Comment) -> None:
    rng = c.rng
    p = rng.choice(L.END_PUNCT)
    if p:
        c.add(p)
    if rng.random() < 0.25:
        c.add(" " + _emojis(rng))
    if rng.random() < 0.06:
        if not p or p[-1] not in ".!?":
            c.add(".")
        c.add(" " + rng.choice(L.SUFFIX_SENTENCES))


def generate_one(rng: random.Random, idx: str, no_diacritics_ratio: float = 0.25,
                 split: str = "train") -> Dict:
    c = _Comment(rng, split, teencode=rng.random() < TEENCODE_RATIO,
                 typos=rng.random() < TYPO_RATIO)
    _body(c)
    if c.tuples:
        _ending(c)
    text = c.text()
    style = rng.random()
    if style < (0.6 if c.teencode else 0.15):
        text = _case_map(text, str.lower)
    elif style > 0.97:
        text = _case_map(text, str.upper)
    else:
        text = _capitalize_sentences(text)
    if rng.random() < no_diacritics_ratio:
        stripped = strip_diacritics(text)
        if stripped != text:
            c.slices.add("no_diacritics")
        text = stripped
    elif rng.random() < PARTIAL_DIACRITICS_RATIO:
        text = _strip_some_words(rng, text)
    assert len(text) == c.length
    if any(ch in _EMOJI_CHARS for ch in text):
        c.slices.add("emoji")
    if c.clauses >= 2:
        c.slices.add("multi_clause")
    if not c.tuples:
        c.slices.add("no_tuple")
    tuples = []
    for t in c.tuples:
        (eb, ee), (ob, oe) = t["entity_span"], t["opinion_span"]
        tuples.append({"entity": text[eb:ee], "aspect": t["aspect"], "opinion": text[ob:oe],
                       "sentiment": t["sentiment"], "entity_span": [eb, ee], "opinion_span": [ob, oe]})
    return {"id": idx, "text": text, "tuples": tuples, "slices": sorted(c.slices)}


def pairing_errors(ex: Dict) -> List[str]:
    """Tuples whose entity is not the one the contract's decoder would pair with the opinion.

    The decoder takes the nearest entity span ending before the opinion, else the nearest one
    starting after it, else none.  Generated data must follow that rule to be learnable.
    """
    ents = sorted({tuple(t["entity_span"]) for t in ex["tuples"] if t["entity"]})
    errs = []
    for t in ex["tuples"]:
        ob, oe = t["opinion_span"]
        before = [e for e in ents if e[1] <= ob]
        after = [e for e in ents if e[0] >= oe]
        want = max(before, key=lambda e: e[1]) if before else (min(after) if after else None)
        got = tuple(t["entity_span"]) if t["entity"] else None
        if want != got:
            errs.append("opinion %r: entity %r, the decoder would pair %r" % (
                t["opinion"], t["entity"], ex["text"][want[0]:want[1]] if want else ""))
    return errs


def concat_examples(parts: Sequence[Dict], idx: str, sep: str = " ") -> Dict:
    """Joins comments into one long comment, shifting the spans.

    Raises ValueError when the joined comment breaks the decoder's pairing rule (an entity-less
    or opinion-first comment after another comment's entity).
    """
    texts, tuples, slices, off = [], [], {"multi_clause"}, 0
    for k, p in enumerate(parts):
        if k:
            texts.append(sep)
            off += len(sep)
        for t in p["tuples"]:
            t = dict(t)
            t["entity_span"] = [t["entity_span"][0] + off, t["entity_span"][1] + off] if t["entity"] else [0, 0]
            t["opinion_span"] = [t["opinion_span"][0] + off, t["opinion_span"][1] + off]
            tuples.append(t)
        texts.append(p["text"])
        slices.update(p.get("slices", ()))
        off += len(p["text"])
    slices.discard("no_tuple")
    if not tuples:
        slices.add("no_tuple")
    ex = {"id": idx, "text": "".join(texts), "tuples": tuples, "slices": sorted(slices)}
    errs = pairing_errors(ex)
    if errs:
        raise ValueError("cannot join these comments: %s" % errs[0])
    return ex


def _joinable(e: Dict) -> bool:
    # every opinion has an entity before it: such comments can follow any other comment
    return all(t["entity"] and t["entity_span"][1] <= t["opinion_span"][0] for t in e["tuples"])


def generate_long(n: int, seed: int, min_parts: int = 4, max_parts: int = 14,
                  prefix: str = "long") -> List[Dict]:
    """Long comments (often past a 128-token max_length) made of joined generated comments."""
    rng = random.Random(seed)
    out = []
    pool: List[Dict] = []
    while len(out) < n:
        while len(pool) < max_parts:
            e = generate_one(rng, "p", 0.25)
            if _joinable(e):
                pool.append(e)
        k = rng.randint(min_parts, max_parts)
        parts, pool = pool[:k], pool[k:]
        out.append(concat_examples(parts, "%s-%d-%06d" % (prefix, seed, len(out))))
    return out


def generate(n: int, seed: int, prefix: str = "gen", no_diacritics_ratio: float = 0.25,
             split: str = "train") -> List[Dict]:
    rng = random.Random(seed)
    return [generate_one(rng, "%s-%d-%06d" % (prefix, seed, i), no_diacritics_ratio, split)
            for i in range(n)]


def write_jsonl(path: str, rows: Sequence[Dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: str) -> List[Dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prefix", default="gen")
    ap.add_argument("--split", choices=SPLITS, default="train")
    ap.add_argument("--no-diacritics-ratio", type=float, default=0.25)
    ap.add_argument("--output", default="-")
    args = ap.parse_args(argv)
    rows = generate(args.n, args.seed, args.prefix, args.no_diacritics_ratio, args.split)
    if args.output == "-":
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")
    else:
        write_jsonl(args.output, rows)


if __name__ == "__main__":
    main()

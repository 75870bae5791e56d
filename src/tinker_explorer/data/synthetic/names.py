"""Randomness and vocabulary of the synthetic world: a version-stable seeded generator and
syllable-made names."""

from __future__ import annotations

import random
from typing import Callable, Sequence


class Rng:
    """Seeded helpers built only on ``random()`` (the one stream Python keeps stable)."""

    def __init__(self, key: str):
        self._r = random.Random(key)

    def random(self) -> float:
        return self._r.random()

    def below(self, n: int) -> int:
        return min(int(self._r.random() * n), n - 1)

    def randint(self, a: int, b: int) -> int:
        return a + self.below(b - a + 1)

    def chance(self, p: float) -> bool:
        return self._r.random() < p

    def choice(self, seq: Sequence):
        return seq[self.below(len(seq))]

    def shuffle(self, lst: list) -> None:
        for i in range(len(lst) - 1, 0, -1):
            j = self.below(i + 1)
            lst[i], lst[j] = lst[j], lst[i]

    def sample(self, seq: Sequence, k: int) -> list:
        pool = list(seq)
        k = min(k, len(pool))
        for i in range(k):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def weighted(self, items: Sequence[tuple[object, float]]):
        x = self._r.random() * sum(w for _, w in items)
        for item, w in items:
            x -= w
            if x < 0:
                return item
        return items[-1][0]


# ---------------------------------------------------------------------------------------
# invented names
# ---------------------------------------------------------------------------------------
ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr",
          "st", "th", "sh", "vl", "h", "j", "c", "fen", "mor", "gal", "ost", "lis", "ar", "el", "or")
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ae", "ei", "ou", "y", "ia", "au")
CODAS = ("", "", "", "", "n", "r", "l", "s", "th", "m", "k", "nd", "rt", "v", "sk", "ll")
MALE_ENDS = ("o", "an", "ek", "ir", "as", "en", "ric", "ul", "im", "or", "ald", "ius", "et")
FEMALE_ENDS = ("a", "ina", "elle", "is", "ye", "ara", "eth", "ia", "ene", "ika", "ora", "wen")
SURNAME_ENDS = ("", "", "", "sson", "ski", "ov", "ard", "ley", "mann", "ez", "ani", "ic", "ford", "berg", "elli",
                "ova", "dottir", "ant", "wick", "enko")
PLACE_ENDS = ("", "", "ville", "burg", "heim", "ford", "stad", "ona", "ix", "mouth", "grad", "ak", "ton", "era")
COUNTRY_FORMS = (("ia", "ian"), ("a", "an"), ("esh", "eshi"), ("or", "orese"), ("istan", "istani"),
                 ("land", "landic"), ("ania", "anian"), ("ovia", "ovian"), ("ene", "enese"), ("ari", "arine"))
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
TITLE_NOUNS = ("Garden", "River", "Road", "Winter", "Night", "Kingdom", "Letter", "Stranger", "Bride", "Promise",
               "Storm", "Island", "House", "Shadow", "Secret", "Song", "Journey", "Summer", "Harbour", "Lantern",
               "Mirror", "Widow", "Captain", "Orchard", "Bridge", "Silence", "Crown", "Fortune", "Dancer", "Tower",
               "Valley", "Sister", "Thief", "Heir", "Echo", "Flame", "Frontier", "Voyage", "Circus", "Wedding")
TITLE_ADJS = ("Silent", "Golden", "Broken", "Hidden", "Crimson", "Lost", "Wandering", "Second", "Quiet", "Burning",
              "Last", "Little", "Black", "White", "Distant", "Secret")
GENRES = ("drama", "comedy", "crime", "war", "adventure", "musical", "silent drama", "horror", "romance",
          "mystery", "comedy-drama", "historical drama", "thriller", "family")
OCCUPATIONS = ("politician", "painter", "composer", "novelist", "physician", "diplomat", "landowner", "merchant",
               "singer", "poet", "architect", "journalist", "lawyer", "engineer", "sculptor", "historian")
DIRECTOR_OCCS = ("film director", "film director and screenwriter", "filmmaker",
                 "director, screenwriter and producer", "film director and actor")
SUBJECTS = ("law", "medicine", "painting", "music", "philosophy", "architecture", "history", "engineering")
ORDINALS = ("eldest", "second", "third", "youngest", "only")
STOP = {"The", "A", "Of", "To", "In", "And", "Return", "Beyond"}


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _syl(r: Rng) -> str:
    return r.choice(ONSETS) + r.choice(VOWELS) + r.choice(CODAS)


def word(r: Rng, n_syl: int, ends: Sequence[str], max_len: int = 10) -> str:
    for _ in range(100):
        w = "".join(_syl(r) for _ in range(n_syl)) + r.choice(ends)
        if len(w) <= max_len:
            break
    return cap(w)


def unique(make: Callable[[], str], taken: set[str]) -> str:
    for _ in range(200):
        w = make()
        if w not in taken and len(w) >= 3:
            taken.add(w)
            return w
    raise RuntimeError("name space exhausted")  # pragma: no cover - 200 misses in a row

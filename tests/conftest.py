"""Shared tiny fixtures: tasks built in code (never records of the real datasets)."""

from __future__ import annotations

import pytest

from tinker_explorer.data.schema import Chunk, Task


def make_task(id: str = "t0", n_chunks: int = 6, qtype: str = "compositional") -> Task:
    texts = [
        ("Blue Harbor", "Blue Harbor is a 1961 drama film directed by Orin Vasko. It was shot in Tallmere."),
        ("Orin Vasko", "Orin Vasko (3 May 1920 - 9 June 1990) was a Veldish film director. He was born in Kessa, Norland."),
        ("Red Harbor", "Red Harbor is a 1970 comedy film directed by Ula Brandt."),
        ("Ula Brandt", "Ula Brandt (born 1931) is a director from Tallmere."),
        ("Kessa", "Kessa is a town in Norland with a long harbor and a film festival held every spring since 1952."),
        ("Tallmere", "Tallmere is a city. " * 5),
    ][:n_chunks]
    gold = {"Blue Harbor", "Orin Vasko"}
    chunks = tuple(Chunk.make(i, t, x, is_gold=t in gold) for i, (t, x) in enumerate(texts))
    return Task(id=id, question="Where was the director of film Blue Harbor born?", answer="Kessa, Norland",
                type=qtype, chunks=chunks, source="test",
                meta={"evidences": [["Blue Harbor", "director", "Orin Vasko"], ["Orin Vasko", "place of birth", "Kessa, Norland"]]})


@pytest.fixture
def task() -> Task:
    return make_task()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module (2 threads on a shared 2-core machine oversubscribe), restored after."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

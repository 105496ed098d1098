"""A flow's random generator: seeded per (task, epoch), only when the flow first draws from it."""

from __future__ import annotations

import copy
import hashlib
import pickle
import random

from harness.engine.flow import task_rng


def _seeded(task_id: str, epoch: int) -> random.Random:
    """What ctx.rng always was: random.Random seeded from the hash of 'task|epoch'."""
    return random.Random(int.from_bytes(hashlib.sha256(f"{task_id}|{epoch}".encode()).digest()[:8], "big"))


def test_every_way_of_drawing_gives_the_numbers_of_the_seeded_generator() -> None:
    draws = [lambda r: r.random(), lambda r: r.randint(1, 10**12), lambda r: r.choice("abcdefgh"),
             lambda r: r.gauss(0, 1), lambda r: r.sample(range(100), 5), lambda r: r.uniform(0, 1),
             lambda r: r.randbytes(9), lambda r: r.getrandbits(70), lambda r: r.choices("xyz", k=4)]
    for first in range(len(draws)):  # whichever draw comes first seeds it
        lazy, seeded = task_rng("t-7", 2), _seeded("t-7", 2)
        for draw in draws[first:] + draws[:first]:
            assert draw(lazy) == draw(seeded)
        items, expected = list(range(30)), list(range(30))
        lazy.shuffle(items)
        seeded.shuffle(expected)
        assert items == expected


def test_tasks_and_epochs_get_their_own_numbers() -> None:
    assert len({task_rng(task, epoch).random() for task in ("a", "b") for epoch in (1, 2)}) == 4


def test_state_copies_and_pickles_are_those_of_the_seeded_generator() -> None:
    assert task_rng("t", 1).getstate() == _seeded("t", 1).getstate()
    assert copy.deepcopy(task_rng("t", 1)).random() == _seeded("t", 1).random()
    assert pickle.loads(pickle.dumps(task_rng("t", 1))).random() == _seeded("t", 1).random()
    drawn = task_rng("t", 1)
    drawn.random()
    assert copy.copy(drawn).random() == drawn.random()


def test_seeding_it_again_is_seeding_a_random_random() -> None:
    rng = task_rng("t", 1)
    rng.seed(5)
    assert rng.random() == random.Random(5).random()
    rng = task_rng("t", 1)
    rng.setstate(random.Random(9).getstate())
    assert rng.random() == random.Random(9).random()

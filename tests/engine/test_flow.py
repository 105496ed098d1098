"""A flow's random generator: seeded per (task, epoch), only when the flow first draws from it."""

from __future__ import annotations

import copy
import hashlib
import pickle
import random

from harness.core.dataset import Task
from harness.core.model_settings import ModelSettings
from harness.engine.flow import FlowContext, task_rng
from harness.engine.suite import Variant


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


def _context(variant: Variant) -> FlowContext:
    return FlowContext(task=Task(id="t", input="q"), variant=variant.name, client=None,  # type: ignore[arg-type]
                       sync_client=None, settings=variant.model, prompt=None,  # type: ignore[arg-type]
                       rng=task_rng("t", 1), prepared_kwargs=variant.prepared_kwargs)


def test_model_kwargs_made_once_per_variant_are_what_the_settings_say_and_a_copy_each_time() -> None:
    variant = Variant("v@1", flow="f", model=ModelSettings(model="m", temperature=0.3, seed=7))
    ctx = _context(variant)
    first = ctx.model_kwargs()
    assert first == variant.model.request_kwargs() == {"model": "m", "temperature": 0.3, "seed": 7}
    first["temperature"] = 1.0  # a flow changing its copy changes nobody else's
    assert ctx.model_kwargs() == _context(variant).model_kwargs() == variant.model.request_kwargs()


def test_model_kwargs_follow_settings_the_flow_replaced() -> None:
    ctx = _context(Variant("v@1", flow="f", model=ModelSettings(model="m")))
    ctx.settings = ModelSettings(model="other", temperature=None)
    assert ctx.model_kwargs() == {"model": "other"}


def test_settings_holding_containers_are_dumped_per_call() -> None:
    """A nested value (``response_format``) would be shared by shallow copies: made fresh every time."""
    variant = Variant("v@1", flow="f", model=ModelSettings(model="m", response_format={"type": "json_object"}))
    assert variant.prepared_kwargs is None
    ctx = _context(variant)
    ctx.model_kwargs()["response_format"]["type"] = "text"
    assert ctx.model_kwargs()["response_format"] == {"type": "json_object"}

"""Profile JMESPath fields evaluated without JMESPath's visitor give JMESPath's answers."""

from __future__ import annotations

import random

import jmespath
import pytest

from spiders.fields import PARSERS

KEYS = ["a", "b", "c"]
SHAPES = ["a", "a.b", "a.b.c", "a[].b", "a[].b.c", "[].a", "a[*].b", "a[].b[].c", "a[*].b[*].c",
          "a[]", "a[*]", "[]", "a.b[].c", "a[].b[]"]


def document(rng: random.Random, depth: int = 0) -> object:
    """A random JSON value: objects and lists (nested, mixed) over a few keys, scalars."""
    kind = rng.choice(["dict", "list", "scalar"] if depth < 4 else ["scalar"])
    if kind == "dict":
        return {k: document(rng, depth + 1) for k in rng.sample(KEYS, rng.randint(0, 3))}
    if kind == "list":
        return [document(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice([None, 0, 1, "", "x", True, False, 2.5])


def test_common_shapes_take_the_fast_path_and_others_do_not():
    compile_ = PARSERS["json"].compile
    assert all(compile_(shape).fast is not None for shape in SHAPES)
    for other in ["a || b", "[-1].id", "a.*", "length(a)", "a[?b == `1`].c", "[a, b][]"]:
        assert compile_(other).fast is None


@pytest.mark.parametrize("shape", SHAPES + ["a || b", "[-1].a", "a.*.b"])
def test_fast_path_answers_like_jmespath(shape):
    rng = random.Random(shape)
    compiled = PARSERS["json"].compile(shape)
    for _ in range(3000):
        doc = document(rng)
        assert PARSERS["json"].search(compiled, doc) == jmespath.search(shape, doc), doc


def test_demo_post_fields():
    compile_, search = PARSERS["json"].compile, PARSERS["json"].search
    post = {"id": 4, "author": "lena_5", "media": [{"url": "http://m/1.jpg"}, {"type": "x"},
                                                   [{"url": "http://m/2.mp4"}], "junk"]}
    assert search(compile_("media[].url"), post) == ["http://m/1.jpg", "http://m/2.mp4"]
    assert search(compile_("author"), post) == "lena_5"
    assert search(compile_("author.name"), post) is None
    assert search(compile_("media[].url"), {"media": "not a list"}) is None

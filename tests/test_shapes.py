import json

from vlmkit.tiny.shapes import (
    FAMILIES,
    IMAGE_SIZE,
    candidate_questions,
    load_split,
    make_split,
    render,
    save_split,
    standard_splits,
    vocabulary,
)

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_same_seed_same_images_and_questions():
    a, b = make_split("train", 40, seed=3), make_split("train", 40, seed=3)
    assert a == b
    assert all(render(x.scene).tobytes() == render(y.scene).tobytes() for x, y in zip(a, b))
    assert make_split("train", 40, seed=4) != a


def test_splits_never_share_a_scene():
    splits = standard_splits(seed=0, n_train=800, n_val=100, n_test=200)
    keys = {name: {e.scene.key() for e in ex} for name, ex in splits.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["val"] and not keys["val"] & keys["test"]
    images = {name: {render(e.scene).tobytes() for e in ex} for name, ex in splits.items()}
    assert not images["train"] & images["test"]


def test_questions_are_answerable_and_correct():
    import random

    rng = random.Random(0)
    for ex in make_split("val", 200, seed=1):
        s = ex.scene
        for q in candidate_questions(s, rng).values():
            assert q.family in FAMILIES
            if q.family == "count" and q.text == "how many shapes are there?":
                assert q.answer == str(len(s.shapes))
            if q.family == "exists":
                colour, kind = q.text.removeprefix("is there a ").removesuffix("?").split()
                assert (q.answer == "yes") == any(o.colour == colour and o.kind == kind for o in s.shapes)
            if q.family == "colour":
                kind = q.text.removeprefix("what colour is the ").removesuffix("?")
                (target,) = [o for o in s.shapes if o.kind == kind]
                assert q.answer == target.colour
            assert all(w in vocabulary() for w in q.answer.split())


def test_rendered_image_has_the_shape_colours():
    ex = make_split("test", 1, seed=0)[0]
    img = render(ex.scene)
    assert img.size == (IMAGE_SIZE, IMAGE_SIZE)
    from vlmkit.tiny.shapes import COLOURS

    present = {c for c in img.getdata()}
    assert {COLOURS[o.colour] for o in ex.scene.shapes} <= present


def test_committed_test_split_is_what_the_generator_makes(tmp_path):
    save_split(standard_splits(seed=0)["test"], tmp_path)
    assert (tmp_path / "questions.jsonl").read_text() == (ROOT / "data/shapes-test/questions.jsonl").read_text()
    readme = (ROOT / "data/shapes-test/README.md").read_text()
    assert readme == (tmp_path / "README.md").read_text().replace(tmp_path.as_posix(), "data/shapes-test")
    rows = load_split(ROOT / "data/shapes-test")
    assert len(rows) > 1000 and {r["family"] for r in rows} == set(FAMILIES)
    assert rows[0]["pil"].size == (IMAGE_SIZE, IMAGE_SIZE)
    first = json.loads((ROOT / "data/shapes-test/questions.jsonl").read_text().splitlines()[0])
    assert render(make_split("test", 1, 0, questions_per_image=3)[0].scene).tobytes() == rows[0]["pil"].tobytes()
    assert first["image"] == "images/0000.png"

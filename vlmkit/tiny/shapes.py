"""A synthetic visual question-answering set whose answers are known: shapes on a grid.

Scenes hold one to four shapes (circle, square, triangle) in four colours and two
sizes, each centred in a 32-px cell of a 3 x 3 grid on a mid-grey 96-px image, with
a few pixels of jitter. A 32-px cell is exactly one visual token of Qwen3-VL (16-px
patches, 2 x 2 merge). Questions come in seven families with one-word answers; the
relation family compares two objects (are the circle and the square the same size?).
Spatial relations (is the circle left of the square?) were tried first and stayed at
chance after 3000 steps on the H200, with the tiny and a 5 M model alike.
Everything is drawn with PIL from a seed: the same seed gives the same images and
questions. Splits never share a scene.

Taught in ``notebooks/02_quality.ipynb``.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (215, 40, 40), "green": (40, 165, 60), "blue": (45, 85, 225), "yellow": (235, 205, 40)}
SIZES = {"small": 16, "big": 26}
GRID = 3
CELL = 32
IMAGE_SIZE = GRID * CELL
BACKGROUND = (128, 128, 128)
JITTER = 2
COLUMNS = ("left", "middle", "right")
ROWS = ("top", "middle", "bottom")
COUNT_WORDS = ("0", "1", "2", "3", "4")
MAX_OBJECTS = 4

#: Families, with the chance accuracy of guessing uniformly among their answers.
FAMILIES = {
    "colour": 1 / len(COLOURS),
    "shape": 1 / len(SHAPES),
    "count": 1 / MAX_OBJECTS,
    "exists": 1 / 2,
    "position": 1 / 3,
    "size": 1 / 2,
    "relation": 1 / 2,
}
#: Only for training: "what is in the image?" -> "red circle blue square".
CAPTION = "caption"


@dataclass(frozen=True)
class Shape:
    """One shape in a scene; ``row``/``col`` index the 3 x 3 grid, ``dx``/``dy`` the jitter in px."""

    kind: str
    colour: str
    size: str
    row: int
    col: int
    dx: int = 0
    dy: int = 0


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]

    def key(self) -> str:
        """A digest that identifies the rendered image (used to keep splits disjoint)."""
        return hashlib.sha1(json.dumps([asdict(s) for s in self.shapes], sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Question:
    family: str
    text: str
    answer: str


def render(scene: Scene) -> Image.Image:
    """Draw a scene with PIL.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for s in scene.shapes:
        cx, cy = s.col * CELL + CELL // 2 + s.dx, s.row * CELL + CELL // 2 + s.dy
        r = SIZES[s.size] // 2
        fill = COLOURS[s.colour]
        if s.kind == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        elif s.kind == "square":
            draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            draw.polygon(((cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)), fill=fill)
    return image


def random_scene(rng: random.Random, max_objects: int = MAX_OBJECTS) -> Scene:
    """A scene of 1..max_objects shapes in distinct cells."""
    cells = rng.sample(range(GRID * GRID), rng.randint(1, max_objects))
    shapes = tuple(
        Shape(rng.choice(SHAPES), rng.choice(list(COLOURS)), rng.choice(list(SIZES)), c // GRID, c % GRID,
              rng.randint(-JITTER, JITTER), rng.randint(-JITTER, JITTER))
        for c in sorted(cells)
    )
    return Scene(shapes)


def _unique(scene: Scene, attr: str) -> list[Shape]:
    values = [getattr(s, attr) for s in scene.shapes]
    return [s for s in scene.shapes if values.count(getattr(s, attr)) == 1]


def candidate_questions(scene: Scene, rng: random.Random) -> dict[str, Question]:
    """At most one question per family that this scene can answer unambiguously.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    out: dict[str, Question] = {}
    by_kind = _unique(scene, "kind")
    by_colour = _unique(scene, "colour")
    if by_kind:
        s = rng.choice(by_kind)
        out["colour"] = Question("colour", f"what colour is the {s.kind}?", s.colour)
        out["size"] = Question("size", f"is the {s.kind} big or small?", s.size)
        if rng.random() < 0.5:
            out["position"] = Question("position", f"is the {s.kind} on the left, in the middle or on the right?",
                                       COLUMNS[s.col])
        else:
            out["position"] = Question("position", f"is the {s.kind} at the top, in the middle or at the bottom?",
                                       ROWS[s.row])
    if by_colour:
        s = rng.choice(by_colour)
        out["shape"] = Question("shape", f"what shape is the {s.colour} one?", s.kind)
    if rng.random() < 0.5:
        out["count"] = Question("count", "how many shapes are there?", COUNT_WORDS[len(scene.shapes)])
    else:
        kind = rng.choice(SHAPES)
        n = sum(s.kind == kind for s in scene.shapes)
        out["count"] = Question("count", f"how many {kind}s are there?", COUNT_WORDS[n])
    present = {(s.colour, s.kind) for s in scene.shapes}
    if rng.random() < 0.5:
        colour, kind = rng.choice(sorted(present))
    else:
        absent = [(c, k) for c in COLOURS for k in SHAPES if (c, k) not in present]
        colour, kind = rng.choice(absent)
    out["exists"] = Question("exists", f"is there a {colour} {kind}?", "yes" if (colour, kind) in present else "no")
    pairs = [(a, b) for i, a in enumerate(by_kind) for b in by_kind[i + 1:]]
    if pairs:
        a, b = rng.choice(pairs)
        out["relation"] = Question("relation", f"are the {a.kind} and the {b.kind} the same size?",
                                   "yes" if a.size == b.size else "no")
    return out


def caption(scene: Scene) -> Question:
    """The training-only caption question: colours and kinds in reading order."""
    return Question(CAPTION, "what is in the image?", " ".join(f"{s.colour} {s.kind}" for s in scene.shapes))


def vocabulary() -> list[str]:
    """Every word a question or answer of this set uses (whole-word tokens for the tokenizer)."""
    words: set[str] = set(SHAPES) | set(COLOURS) | set(SIZES) | set(COLUMNS) | set(ROWS) | set(COUNT_WORDS)
    words |= {f"{k}s" for k in SHAPES} | {"yes", "no"}
    words |= set("what colour is the shape one how many shapes are there big or small on left in middle right "
                 "at top bottom a of image user assistant and same".split())
    return sorted(words)


@dataclass(frozen=True)
class Example:
    """One image with its questions (``caption`` included only where asked for)."""

    scene: Scene
    questions: tuple[Question, ...]


def _split_seed(seed: int, split: str) -> int:
    return int(hashlib.sha256(f"{seed}/{split}".encode()).hexdigest()[:12], 16)


def make_split(split: str, n_images: int, seed: int = 0, *, exclude: set[str] = frozenset(),
               max_objects: int = MAX_OBJECTS, questions_per_image: int = 0, with_caption: bool = False) -> list[Example]:
    """Generate ``n_images`` examples of a split, deterministically from ``seed`` and the split's name.

    Scenes whose key is in ``exclude`` (the other splits') are skipped, so splits never
    share an image. With ``questions_per_image`` > 0 each image keeps that many questions,
    chosen to balance families across the split; 0 keeps every family it can answer.
    ``with_caption`` (the training split) adds the caption question.
    Taught in ``notebooks/02_quality.ipynb``.
    """
    rng = random.Random(_split_seed(seed, split))
    seen = set(exclude)
    family_counts = {f: 0 for f in FAMILIES}
    out = []
    while len(out) < n_images:
        scene = random_scene(rng, max_objects)
        if scene.key() in seen:
            continue
        seen.add(scene.key())
        options = candidate_questions(scene, rng)
        if questions_per_image:
            chosen = sorted(options, key=lambda f: (family_counts[f], rng.random()))[:questions_per_image]
        else:
            chosen = list(options)
        for f in chosen:
            family_counts[f] += 1
        questions = tuple(options[f] for f in chosen) + ((caption(scene),) if with_caption else ())
        out.append(Example(scene, questions))
    return out


def standard_splits(seed: int = 0, n_train: int = 6000, n_val: int = 200, n_test: int = 450) -> dict[str, list[Example]]:
    """Test first, then validation, then training, each excluding the scenes of those before.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    test = make_split("test", n_test, seed, questions_per_image=3)
    val = make_split("val", n_val, seed, exclude={e.scene.key() for e in test}, questions_per_image=3)
    taken = {e.scene.key() for e in test + val}
    train = make_split("train", n_train, seed, exclude=taken, with_caption=True)
    return {"train": train, "val": val, "test": test}


def save_split(examples: list[Example], directory: str | Path) -> None:
    """Write PNG images and a ``questions.jsonl`` (image file, family, question, answer, scene)."""
    directory = Path(directory)
    (directory / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, ex in enumerate(examples):
        name = f"images/{i:04d}.png"
        render(ex.scene).save(directory / name, optimize=True)
        for q in ex.questions:
            lines.append(json.dumps({"image": name, "family": q.family, "question": q.text, "answer": q.answer,
                                     "scene": [asdict(s) for s in ex.scene.shapes]}))
    (directory / "questions.jsonl").write_text("\n".join(lines) + "\n")
    write_split_readme(directory)


def write_split_readme(directory: str | Path) -> Path:
    """Describe a saved split in its ``README.md``: how it was made, its size, its answer distribution.

    The numbers are counted from ``questions.jsonl``, never typed.
    """
    directory = Path(directory)
    rows = [json.loads(line) for line in (directory / "questions.jsonl").read_text().splitlines()]
    n_images = len({r["image"] for r in rows})
    by_family: dict[str, dict[str, int]] = {}
    for r in rows:
        answers = by_family.setdefault(r["family"], {})
        answers[r["answer"]] = answers.get(r["answer"], 0) + 1
    table = "\n".join(
        f"| {fam} | {sum(a.values())} | " + ", ".join(f"{k} {v}" for k, v in sorted(a.items())) + " |"
        for fam, a in sorted(by_family.items())
    )
    text = f"""# shapes test split

Written by `python -m vlmkit.tiny.shapes --out {directory.as_posix()}` (seed 0): `vlmkit.tiny.shapes.standard_splits`
draws the test scenes first, then validation and training scenes that exclude them, so no split shares an
image. {n_images} PNG images of {IMAGE_SIZE} x {IMAGE_SIZE} px under `images/`, {len(rows)} questions in
`questions.jsonl` (image, family, question, answer, and the scene that was drawn). Up to three questions per
image, chosen to balance the families; every question has exactly one correct one-word answer.

| family | questions | answers |
| --- | ---: | --- |
{table}
"""
    path = directory / "README.md"
    path.write_text(text)
    return path


def load_split(directory: str | Path) -> list[dict]:
    """Read a saved split: one dict per question, with the PIL image under ``"pil"``."""
    directory = Path(directory)
    images: dict[str, Image.Image] = {}
    rows = []
    for line in (directory / "questions.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["image"] not in images:
            with Image.open(directory / row["image"]) as opened:
                images[row["image"]] = opened.convert("RGB")
        rows.append(dict(row, pil=images[row["image"]]))
    return rows


def main(argv: list[str] | None = None) -> None:
    """``python -m vlmkit.tiny.shapes --out data/shapes-test``: write the standard test split."""
    import argparse

    parser = argparse.ArgumentParser(description="Write the shapes test split (PNG images + questions.jsonl).")
    parser.add_argument("--out", default="data/shapes-test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    save_split(standard_splits(args.seed)["test"], args.out)


if __name__ == "__main__":
    main()

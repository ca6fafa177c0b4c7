"""Train the tiny Qwen3-VL on the shapes set: a plain, readable loop that runs on CPU or CUDA.

What makes it learn in minutes (each measured, see ``data/shapes-model/README.md``):
shapes centred in 32-px cells (one visual token each) on a grey background, an
initialisation near 1/sqrt(hidden), a curriculum of single-object scenes first, and
a caption task during training only. What makes it fast: every image is laid out in
patches once, by the real image processor, and every question tokenized once, so a
training step only indexes tensors; the vision tower attends over all images of a
batch in one call (``vlmkit.runtime.attention``).

Taught in ``notebooks/02_quality.ipynb``.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import Qwen3VLForConditionalGeneration, Qwen3VLProcessor

from vlmkit.core.device import device_name, resolve_device
from vlmkit.models.architectures import ArchitectureSpec, get_spec
from vlmkit.models.attention_backends import (
    EQUAL_IMAGES_ATTENTION,
    set_vision_attention,
)
from vlmkit.models.checkpoints import MANIFEST, generation_config
from vlmkit.models.processor import build_processor
from vlmkit.runtime.inference import VLMInference
from vlmkit.tiny.shapes import (
    CAPTION,
    Example,
    load_split,
    render,
    standard_splits,
    vocabulary,
)
from vlmkit.verdicts.quality import evaluate, majority_baseline

#: The bf16 exact-match accuracy the book's quality notebook asks of the committed model.
TARGET_ACCURACY = 0.90


@dataclass
class TrainConfig:
    """Everything that decides the trained model; the model card records it."""

    model: str = "qwen3-vl-tiny"
    steps: int = 3000
    batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 150
    weight_decay: float = 0.01
    curriculum_steps: int = 400  # steps that see only single-object scenes
    n_train_images: int = 6000
    seed: int = 0
    eval_every: int = 250
    init_from: str = ""  # a checkpoint to continue from (long runs in several calls); "" starts from random weights


@dataclass
class TensorSet:
    """A split laid out as tensors: image patches once per image, token rows once per question."""

    patches: torch.Tensor  # uint8 [n_images, patches_per_image, patch_dim], raw pixel values
    grid_thw: torch.Tensor  # [3], the same for every image
    input_ids: torch.Tensor  # [n_questions, length], left-padded
    attention_mask: torch.Tensor
    labels: torch.Tensor  # -100 except the answer and <|im_end|>
    image_index: torch.Tensor  # which image each question is about
    n_objects: torch.Tensor  # objects in that image (for the curriculum)
    families: list[str]

    def to(self, device: torch.device) -> "TensorSet":
        """The same set with every tensor on ``device`` (a training step then never copies from the host)."""
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()}
        return TensorSet(**moved)


def build_tensors(examples: list[Example], processor: Qwen3VLProcessor) -> TensorSet:
    """Lay out a split as tensors with the real processor (one call for all images, one for all texts).

    Taught in ``notebooks/02_quality.ipynb``.
    """
    images = [render(ex.scene) for ex in examples]
    raw = processor.image_processor(images=images, do_rescale=False, do_normalize=False, return_tensors="pt")
    grid = raw["image_grid_thw"][0]
    per_image = int(grid.prod())
    patches = raw["pixel_values"].round().to(torch.uint8).view(len(images), per_image, -1)
    visual_tokens = per_image // processor.image_processor.merge_size**2
    tokenizer = processor.tokenizer
    prompts, answers, image_index, families = [], [], [], []
    for i, ex in enumerate(examples):
        for q in ex.questions:
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q.text}]}]
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
            prompts.append(prompt.replace("<|image_pad|>", "<|image_pad|>" * visual_tokens))
            answers.append(q.answer + "<|im_end|>")
            image_index.append(i)
            families.append(q.family)
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    length = max(len(p) + len(a) for p, a in zip(p_ids, a_ids))
    pad = tokenizer.pad_token_id
    ids = torch.full((len(prompts), length), pad, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for row, (p, a) in enumerate(zip(p_ids, a_ids)):
        seq = p + a
        ids[row, length - len(seq):] = torch.tensor(seq)
        labels[row, length - len(a):] = torch.tensor(a)
        mask[row, length - len(seq):] = 1
    return TensorSet(patches, grid, ids, mask, labels, torch.tensor(image_index),
                     torch.tensor([len(examples[i].scene.shapes) for i in image_index]), families)


def _batch(data: TensorSet, rows: torch.Tensor, image_token_id: int, device: torch.device) -> dict:
    images = data.image_index[rows]
    pixels = data.patches[images].to(device).float().div_(127.5).sub_(1.0)  # (x/255-0.5)/0.5
    ids = data.input_ids[rows].to(device)
    return {
        "input_ids": ids,
        "attention_mask": data.attention_mask[rows].to(device),
        "labels": data.labels[rows].to(device),
        "mm_token_type_ids": (ids == image_token_id).long(),
        "pixel_values": pixels.flatten(0, 1),
        "image_grid_thw": data.grid_thw.repeat(len(rows), 1).to(device),
    }


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


@torch.inference_mode()
def teacher_forced_accuracy(model: Qwen3VLForConditionalGeneration, data: TensorSet, device: torch.device,
                            batch_size: int = 128) -> dict[str, float]:
    """Exact match of every answer token under teacher forcing, per family (a fast proxy for generation)."""
    model.eval()
    image_token = model.config.image_token_id
    hits: dict[str, list[bool]] = {}
    for start in range(0, len(data.families), batch_size):
        rows = torch.arange(start, min(start + batch_size, len(data.families)), device=data.input_ids.device)
        batch = _batch(data, rows, image_token, device)
        labels = batch.pop("labels")
        logits = model(**batch).logits[:, :-1]
        target = labels[:, 1:]
        correct = ((logits.argmax(-1) == target) | (target == -100)).all(-1)
        for fam, ok in zip((data.families[i] for i in rows.tolist()), correct.tolist()):
            hits.setdefault(fam, []).append(ok)
    model.train()
    return {f: sum(v) / len(v) for f, v in sorted(hits.items())}


@dataclass
class TrainResult:
    """The trained model's directory, its learning curve and how long it took where."""

    path: Path
    config: TrainConfig
    device: str
    device_name: str
    seconds: float
    history: list[dict] = field(default_factory=list)


def train_shapes_model(out_dir: str | Path, config: TrainConfig | None = None, device: str | None = None,
                       progress: bool = True) -> TrainResult:
    """Train the tiny Qwen3-VL on the shapes set and save a complete checkpoint to ``out_dir``.

    Same function on CPU and CUDA (fp32 weights; bf16 is a loading precision, not a
    training one: a bf16-autocast run diverged). Taught in ``notebooks/02_quality.ipynb``.
    """
    cfg = config or TrainConfig()
    dev = resolve_device(device)
    spec: ArchitectureSpec = get_spec(cfg.model)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    processor = build_processor(spec, words=vocabulary())
    splits = standard_splits(cfg.seed, n_train=cfg.n_train_images)
    train = build_tensors(splits["train"], processor).to(dev)
    val = build_tensors(splits["val"], processor).to(dev)
    if cfg.init_from:
        model = Qwen3VLForConditionalGeneration.from_pretrained(cfg.init_from, dtype=torch.float32).to(dev)
    else:
        model = Qwen3VLForConditionalGeneration._from_config(spec.config(), dtype=torch.float32).to(dev)
    model.config.use_cache = False
    set_vision_attention(model, EQUAL_IMAGES_ATTENTION)  # all training images share one size
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, cfg))
    single = torch.nonzero(train.n_objects == 1).flatten()
    everything = torch.arange(len(train.families), device=dev)
    generator = torch.Generator(device=dev).manual_seed(cfg.seed)
    history: list[dict] = []
    started = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=f"training on {dev.type}", disable=not progress)
    for step in bar:
        pool = single if step < cfg.curriculum_steps else everything
        rows = pool[torch.randint(len(pool), (cfg.batch_size,), generator=generator, device=dev)]
        loss = model(**_batch(train, rows, model.config.image_token_id, dev)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        entry = {"step": step + 1, "loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                 "seconds": time.perf_counter() - started}
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            entry["val"] = teacher_forced_accuracy(model, val, dev)
            bar.set_postfix(loss=f"{entry['loss']:.3f}", val=f"{_mean_without_caption(entry['val']):.3f}")
            if progress:
                bar.write(f"step {step + 1}: loss {entry['loss']:.3f}, validation "
                          + ", ".join(f"{f} {v:.2f}" for f, v in entry["val"].items()))
        history.append(entry)
    seconds = time.perf_counter() - started
    result = TrainResult(Path(out_dir), cfg, dev.type, device_name(dev), seconds, history)
    save_trained(model, processor, spec, result)
    return result


def _mean_without_caption(acc: dict[str, float]) -> float:
    values = [v for f, v in acc.items() if f != CAPTION]
    return sum(values) / len(values)


def save_trained(model: Qwen3VLForConditionalGeneration, processor: Qwen3VLProcessor, spec: ArchitectureSpec,
                 result: TrainResult) -> None:
    """Save the model in bf16 with its processor, generation config, manifest and learning curve."""
    out = result.path
    out.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu", torch.bfloat16).eval()
    set_vision_attention(model, "sdpa")
    model.config.use_cache = True
    model.generation_config = generation_config(spec)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    manifest = {"registry_name": spec.name, "trained_on": "vlmkit.tiny.shapes", "seed": result.config.seed,
                "init_device": result.device, "dtype": "bfloat16",
                "parameters": sum(p.numel() for p in model.parameters()), "train_config": asdict(result.config),
                "device_name": result.device_name, "train_seconds": round(result.seconds, 1)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    (out / "learning_curve.json").write_text(json.dumps(result.history))


#: Step rates of the training function measured on other devices, kept beside the model card.
TIMINGS = "timings.json"


def command_for(config: TrainConfig, out: str, device: str) -> str:
    """The ``python -m vlmkit.tiny.training`` command that trains ``config``: only settings that differ from the defaults."""
    defaults = TrainConfig()
    flags = "".join(f" --{f.name.replace('_', '-')} {getattr(config, f.name)}" for f in fields(TrainConfig)
                    if getattr(config, f.name) != getattr(defaults, f.name))
    return f"python -m vlmkit.tiny.training --out {out} --device {device}{flags}"


def measure_step_rate(config: TrainConfig, steps: int, device: str | None = None) -> dict:
    """Train ``steps`` steps of ``config`` (into a throw-away folder) and return the measured step rate.

    The first step (allocations, first kernels) is left out of the rate. Used for the model card's
    line about devices the committed model was not trained on. Taught in ``notebooks/02_quality.ipynb``.
    """
    if steps < 2:
        raise ValueError(f"need at least 2 steps to time, got {steps}")
    with tempfile.TemporaryDirectory() as tmp:
        result = train_shapes_model(tmp, replace(config, steps=steps, eval_every=steps + 1), device, progress=False)
    timed = result.history[-1]["seconds"] - result.history[0]["seconds"]
    return {"device_name": result.device_name, "batch_size": config.batch_size, "steps_timed": steps - 1,
            "seconds": round(timed, 2), "steps_per_second": (steps - 1) / timed,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}


def record_step_rate(model_dir: str | Path, rate: dict) -> Path:
    """Add a measured step rate to ``timings.json`` beside the model (earlier ones are kept)."""
    path = Path(model_dir) / TIMINGS
    rates = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(rates + [rate], indent=2) + "\n")
    return path


def write_model_card(model_dir: str | Path, accuracy: dict, baseline: dict[str, float], evaluated_on: str) -> Path:
    """Write ``README.md`` beside a trained model: architecture, command, device, time, seed, accuracy per family.

    Every number comes from the model's manifest, from ``timings.json`` (step rates measured on other
    devices) or from the evaluation passed in (made on ``evaluated_on``). Taught in ``notebooks/02_quality.ipynb``.
    """
    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / MANIFEST).read_text())
    config = json.loads((model_dir / "config.json").read_text())
    text, vision = config["text_config"], config["vision_config"]
    cfg = manifest["train_config"]
    command = command_for(TrainConfig(**cfg), str(model_dir), manifest["init_device"])
    rows = "\n".join(f"| {fam} | {acc:.3f} | {baseline[fam]:.3f} |" for fam, acc in accuracy["by_family"].items())
    status = (f"meets the book's target of {TARGET_ACCURACY:.2f}" if accuracy["overall"] >= TARGET_ACCURACY
              else f"below the book's target of {TARGET_ACCURACY:.2f}: an interim model that needs longer training")
    rates = json.loads((model_dir / TIMINGS).read_text()) if (model_dir / TIMINGS).exists() else []
    timings = "".join(
        f"- {r['device_name']}, same function and settings ({r['date']}, `{TIMINGS}`): {r['steps_per_second']:.2f} "
        f"steps/s over {r['steps_timed']} steps of batch {r['batch_size']}, so about "
        f"{cfg['steps'] / r['steps_per_second'] / 60:.0f} min for the {cfg['steps']} steps\n"
        for r in rates if r["batch_size"] == cfg["batch_size"])
    card = f"""# shapes-model: a tiny Qwen3-VL trained by vlmkit

`Qwen3VLForConditionalGeneration` ({manifest['parameters']:,} parameters, stored in bf16), trained from
scratch on vlmkit's synthetic shapes questions (`vlmkit.tiny.shapes`). It exists so that the book can measure what
quantization costs in *accuracy*: no pretrained VLM can be downloaded where the book is built.

## Architecture
- text: hidden {text['hidden_size']} x {text['num_hidden_layers']} layers, {text['num_attention_heads']} heads /
  {text['num_key_value_heads']} KV heads, head_dim {text['head_dim']}, FFN {text['intermediate_size']},
  vocabulary {text['vocab_size']} (256 bytes, the Qwen special tokens, the task's words)
- vision: hidden {vision['hidden_size']} x depth {vision['depth']}, FFN {vision['intermediate_size']},
  patch {vision['patch_size']}, merge {vision['spatial_merge_size']}, deepstack layers {vision['deepstack_visual_indexes']}
- images: 96 x 96 px, 9 visual tokens

## Training
- command: `{command}`
- device: {manifest['device_name']} ({manifest['init_device']}); time: {manifest['train_seconds']:.0f} s
{timings}- seed {cfg['seed']}; {cfg['steps']} steps of batch {cfg['batch_size']}; AdamW, peak lr {cfg['lr']}, warm-up
  {cfg['warmup_steps']} steps then cosine; {cfg['curriculum_steps']} curriculum steps on single-object scenes;
  {cfg['n_train_images']} training images with every question they answer plus a caption task
- learning curve: `learning_curve.json` (loss per step, validation accuracy per family every {cfg['eval_every']} steps)
- initialised from: {cfg.get('init_from') or 'random weights'}

## Accuracy on `data/shapes-test` (bf16, exact match, greedy, evaluated on {evaluated_on})
Overall **{accuracy['overall']:.3f}** on {accuracy['n']} questions: {status}. Baseline: always the family's most
common answer.

| family | accuracy | majority baseline |
| --- | ---: | ---: |
{rows}
"""
    path = model_dir / "README.md"
    path.write_text(card)
    return path


def main(argv: list[str] | None = None) -> None:
    """``python -m vlmkit.tiny.training --out data/shapes-model --device cpu``: train, evaluate, write the model card.

    ``--probe-steps N``: only time N steps of these settings on this device and add the rate to the card's
    ``timings.json``; ``--card``: evaluate the model already in ``--out`` and write its card again.
    """
    import argparse

    parser = argparse.ArgumentParser(description="Train the tiny Qwen3-VL on the shapes set.")
    parser.add_argument("--out", default="data/shapes-model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--test-set", default="data/shapes-test")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--probe-steps", type=int, help="time this many training steps here; record the rate beside --out")
    mode.add_argument("--card", action="store_true", help="evaluate the model in --out and write its card again")
    defaults = TrainConfig()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    out, device, test_set = args.pop("out"), args.pop("device"), args.pop("test_set")
    probe, card_only = args.pop("probe_steps"), args.pop("card")
    if probe is not None:
        rate = measure_step_rate(TrainConfig(**args), probe, device)
        print(f"{rate['steps_per_second']:.2f} steps/s on {rate['device_name']}; recorded in {record_step_rate(out, rate)}")
        return
    if not card_only:
        result = train_shapes_model(out, TrainConfig(**args), device=device)
        print(f"trained on {result.device_name} in {result.seconds:.0f} s")
    rows = load_split(test_set)
    vlm = VLMInference(model=out, precision="bf16", device=device)
    accuracy = evaluate(vlm, rows)
    card = write_model_card(out, accuracy.as_dict(), majority_baseline(rows), evaluated_on=device_name(vlm.device))
    print(f"bf16 test accuracy {accuracy.overall:.3f}; card: {card}")


if __name__ == "__main__":
    main()

"""Build the real ``Qwen3VLProcessor`` around a tokenizer that vlmkit makes itself.

Qwen's tokenizer files cannot be downloaded here, so vlmkit builds a byte-level
BPE tokenizer (the 256 byte tokens, optional whole-word tokens) whose special
tokens sit at exactly the ids the model config expects. Everything around it is
the real thing: ``Qwen2VLImageProcessor``, ``Qwen3VLVideoProcessor`` and
``Qwen3VLProcessor``, saved so that ``AutoProcessor.from_pretrained`` loads it.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    PreTrainedTokenizerFast,
    Qwen2VLImageProcessor,
    Qwen3VLProcessor,
)
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

from vlmkit.models.architectures import ArchitectureSpec

#: Qwen's chat layout (``<|im_start|>role\n...<|im_end|>\n``), images as
#: ``<|vision_start|><|image_pad|><|vision_end|>``; the processor expands the pad token.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)


def build_tokenizer(spec: ArchitectureSpec, words: Sequence[str] = ()) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer whose special tokens have the ids ``spec``'s config expects.

    Ids 0-255 are the bytes; ``words`` (optional) become whole-word tokens after the
    special tokens. Any text can be encoded; ids the tokenizer does not know (a
    random model can emit them) decode to nothing.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    specials = spec.special_token_ids()
    vocab.update(specials)
    next_id = max(specials.values()) + 1
    word_tokens = []
    for word in words:
        if word not in vocab:
            vocab[word] = next_id
            word_tokens.append(AddedToken(word, single_word=True, normalized=False))
            next_id += 1
    if next_id > spec.text["vocab_size"]:
        raise ValueError(f"{next_id} tokens do not fit the vocabulary of {spec.text['vocab_size']}")

    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(tok, special=True, normalized=False) for tok in specials])
    tokenizer.add_tokens(word_tokens)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
    )


def build_processor(spec: ArchitectureSpec, words: Sequence[str] = ()) -> Qwen3VLProcessor:
    """The real ``Qwen3VLProcessor`` for ``spec``, with vlmkit's own tokenizer.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    vision = spec.vision
    image_processor = Qwen2VLImageProcessor(
        patch_size=vision["patch_size"],
        temporal_patch_size=vision["temporal_patch_size"],
        merge_size=vision["spatial_merge_size"],
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        size={"shortest_edge": spec.min_pixels, "longest_edge": spec.max_pixels},
    )
    video_processor = Qwen3VLVideoProcessor(
        patch_size=vision["patch_size"],
        temporal_patch_size=vision["temporal_patch_size"],
        merge_size=vision["spatial_merge_size"],
    )
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=build_tokenizer(spec, words),
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )

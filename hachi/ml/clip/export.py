"""open_clip model -> Hachi's CLIP folder (two ONNX graphs, model.json, BPE vocab).

This is the only module that touches torch and open_clip, and only inside its functions:
they are the optional ``export`` extra, never needed to run Hachi. Every export is checked
before it is accepted: the ONNX graphs, fed by Hachi's own preprocessing and tokenizer, must
reproduce open_clip's torch embeddings, and the report carries the differences measured.

Where the text tower is causal and pooled at the end-of-text token (open_clip's ``CLIP``
and ``CustomTextCLIP`` with a plain ``TextTransformer``), it is exported with a dynamic
token axis, so a query runs only up to its end token, plus an int8 copy for queries. The
TorchScript exporter bakes the sequence length into the attention reshapes, so this graph
comes from the dynamo exporter; any other tower keeps the fixed-length TorchScript graph.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from hachi.errors import BadRequest, ModelUnavailable
from hachi.ml.clip.config import (
    TEXTUAL_FILE,
    VISUAL_FILE,
    VOCAB_FILE,
    ClipConfig,
    PreprocessConfig,
    TokenizerConfig,
    load_config,
    write_config,
)
from hachi.ml.clip.export_text import (
    export_trimmed_text,
    exporting,
    min_cosine,
    text_runs,
    trimmable_text,
    trimmed_text_agreement,
)
from hachi.ml.clip.preprocess import preprocess_batch
from hachi.ml.clip.quantize import add_image_int8, add_text_int8
from hachi.ml.clip.tokenizer import ClipTokenizer

DEFAULT_OPSET = 17
MIN_COSINE = 0.9999
CHECK_IMAGES = 6
CHECK_TEXTS = (
    "a photo of a dog on the beach",
    "Sunset over the mountains, 2019!",
    "",
    "a red circle",
    "birthday cake with candles " * 12,
)
# queries of other lengths for the int8 text tower's agreement, each encoded alone
INT8_CHECK_TEXTS = (
    "dog",
    "two children building a sandcastle on a windy beach at low tide",
    "screenshot of a spreadsheet with a bar chart",
    "the old stone bridge over the river in autumn fog, a red bicycle leaning on its rail,"
    " ducks on the water below and the cathedral towers behind the trees",
)
CLEAN_NAMES = ("lower", "whitespace", "canonicalize")
END_POOLS = ("argmax", "eos")  # poolings that read the end-of-text position


@dataclass(frozen=True)
class ExportReport:
    """What was written and how closely the ONNX graphs reproduce torch."""

    out_dir: Path
    config: ClipConfig
    image_max_abs_diff: float
    text_max_abs_diff: float
    image_min_cosine: float
    text_min_cosine: float
    preprocess_max_abs_diff: float
    int8_mean_cosine: float | None
    text_int8_min_cosine: float | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "name": self.config.name,
            "image_max_abs_diff": self.image_max_abs_diff,
            "text_max_abs_diff": self.text_max_abs_diff,
            "image_min_cosine": self.image_min_cosine,
            "text_min_cosine": self.text_min_cosine,
            "preprocess_max_abs_diff": self.preprocess_max_abs_diff,
            "int8_mean_cosine": self.int8_mean_cosine,
            "text_trim": self.config.text_trim,
            "text_int8_min_cosine": self.text_int8_min_cosine,
            "seconds": round(self.seconds, 2),
        }


def export_clip(
    arch: str,
    pretrained: str,
    out_dir: Path,
    *,
    name: str | None = None,
    int8: bool = False,
    licence: str = "unknown",
    vocab_path: Path | None = None,
    opset: int = DEFAULT_OPSET,
) -> ExportReport:
    """Export ``arch`` with weights ``pretrained`` (an open_clip tag or a checkpoint file).

    ``arch`` may also be the path of an open_clip model config JSON (a custom architecture);
    ``vocab_path`` replaces open_clip's standard BPE vocab for models trained on another.
    """
    started = time.perf_counter()
    _check_out_dir(out_dir)
    model, transform, tokenizer, arch_name = _load_open_clip(arch, pretrained)
    vocab = vocab_path or _default_vocab()
    if vocab_path is not None:
        tokenizer = _tokenizer_with_vocab(tokenizer, vocab_path)
    config = _config_for(model, tokenizer, arch_name, pretrained, name, licence, vocab)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vocab, out_dir / config.tokenizer.vocab_file)
    config = _export_towers(model, tokenizer, config, out_dir, opset)
    batch, metrics = _check_against_torch(model, transform, tokenizer, out_dir, config)
    write_config(config, out_dir)  # after the check: a folder that failed is not installable
    text_agreement = None
    if config.text_trim:  # trimmed graphs are the query encoder: give them their fast copy
        text_agreement = add_text_int8(out_dir, CHECK_TEXTS + INT8_CHECK_TEXTS)
    image_agreement = add_image_int8(out_dir, batch) if int8 else None
    config = load_config(out_dir)  # with the int8 files and agreement just recorded
    return ExportReport(
        out_dir=out_dir,
        config=config,
        int8_mean_cosine=image_agreement,
        text_int8_min_cosine=text_agreement,
        seconds=time.perf_counter() - started,
        **metrics,
    )


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BadRequest(f"output folder is not empty: {out_dir}", {"path": str(out_dir)})


def _import_open_clip() -> Any:
    try:
        import open_clip
        import torch  # noqa: F401 - fail here, with the install hint, not deep inside
    except ImportError as exc:
        raise ModelUnavailable(
            "exporting needs torch and open-clip-torch: pip install 'hachi[export]'",
            {"install": "pip install 'hachi[export]'"},
        ) from exc
    return open_clip


def _default_vocab() -> Path:
    open_clip = _import_open_clip()
    return Path(open_clip.__file__).parent / VOCAB_FILE


def _load_open_clip(arch: str, pretrained: str) -> tuple[Any, Any, Any, str]:
    """The model in eval mode, its validation transform, tokenizer and architecture name."""
    open_clip = _import_open_clip()
    arch_name = _register_arch(open_clip, arch)
    if arch_name not in open_clip.list_models():
        raise BadRequest(f"unknown open_clip architecture: {arch}", {"arch": arch})
    _refuse_hf_tokenizer(open_clip, arch_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, _, transform = open_clip.create_model_and_transforms(
                arch_name, pretrained=pretrained or None, device="cpu"
            )
    except (RuntimeError, OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"cannot load {arch_name} weights {pretrained!r}: {exc} (offline, pass a downloaded"
            " checkpoint file as --pretrained)",
            {"pretrained": pretrained},
        ) from exc
    tokenizer = open_clip.get_tokenizer(arch_name)
    if not isinstance(tokenizer, open_clip.SimpleTokenizer) or tokenizer.reduction_fn:
        raise BadRequest(
            f"{arch_name} uses {type(tokenizer).__name__}; only CLIP's BPE tokenizer is supported",
            {"arch": arch_name},
        )
    return model.eval(), transform, tokenizer, arch_name


def _tokenizer_with_vocab(tokenizer: Any, vocab_path: Path) -> Any:
    """open_clip's tokenizer on another vocab file: the reference our tokenizer must match."""
    open_clip = _import_open_clip()
    if not vocab_path.is_file():
        raise BadRequest(f"vocab file not found: {vocab_path}", {"path": str(vocab_path)})
    return open_clip.SimpleTokenizer(
        bpe_path=str(vocab_path),
        context_length=tokenizer.context_length,
        clean=_clean_name(open_clip, tokenizer),
    )


def _refuse_hf_tokenizer(open_clip: Any, arch: str) -> None:
    """Checked before building the model, which can take a minute for big towers."""
    text_cfg = (open_clip.get_model_config(arch) or {}).get("text_cfg", {})
    if text_cfg.get("hf_tokenizer_name") or "siglip" in arch.lower():
        raise BadRequest(
            f"{arch} uses a Hugging Face tokenizer; only CLIP's BPE tokenizer is supported",
            {"arch": arch},
        )


def _register_arch(open_clip: Any, arch: str) -> str:
    path = Path(arch)
    if path.suffix == ".json":
        if not path.is_file():
            raise BadRequest(f"model config not found: {arch}", {"path": arch})
        open_clip.add_model_config(path)
        return path.stem
    return arch


def _clean_name(open_clip: Any, tokenizer: Any) -> str:
    for clean in CLEAN_NAMES:
        if tokenizer.clean_fn is open_clip.tokenizer.get_clean_fn(clean):
            return clean
    raise BadRequest("the model's tokenizer uses an unknown text cleaning function")


def _config_for(
    model: Any,
    tokenizer: Any,
    arch: str,
    pretrained: str,
    name: str | None,
    licence: str,
    vocab: Path,
) -> ClipConfig:
    open_clip = _import_open_clip()
    pp = open_clip.get_model_preprocess_cfg(model)
    size = pp["size"]
    from_file = Path(pretrained).is_file()
    tag = Path(pretrained).stem if from_file else pretrained
    return ClipConfig(
        name=name or (f"{arch}-{tag}" if tag else arch),
        arch=arch,
        pretrained=Path(pretrained).name if from_file else pretrained,
        embed_dim=_embed_dim(model, size),
        preprocess=PreprocessConfig(
            image_size=(size, size) if isinstance(size, int) else (int(size[0]), int(size[1])),
            mean=tuple(float(v) for v in pp["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in pp["std"]),  # type: ignore[arg-type]
            resize_mode=pp.get("resize_mode", "shortest"),
            # open_clip evaluates "random" (a training choice) with bicubic
            interpolation="bilinear" if pp.get("interpolation") == "bilinear" else "bicubic",
            fill_color=int(pp.get("fill_color", 0)),
        ),
        context_length=int(tokenizer.context_length),
        vocab_size=int(model.vocab_size),
        tokenizer=TokenizerConfig(vocab_file=vocab.name, clean=_clean_name(open_clip, tokenizer)),
        files=(VISUAL_FILE, TEXTUAL_FILE, vocab.name),
        licence=licence,
    )


def _embed_dim(model: Any, size: int | tuple[int, int]) -> int:
    """Measured rather than read from attributes, which differ between model classes."""
    import torch

    height, width = (size, size) if isinstance(size, int) else size
    with torch.no_grad():
        return int(model.encode_image(torch.zeros(1, 3, height, width)).shape[-1])


def _export_towers(
    model: Any, tokenizer: Any, config: ClipConfig, out_dir: Path, opset: int
) -> ClipConfig:
    """Write both graphs; the returned config says whether the text graph takes trimmed tokens."""
    import torch

    class Tower(torch.nn.Module):
        """One tower of the model; holding the model as a submodule keeps weights params."""

        def __init__(self, clip: Any, image: bool) -> None:
            super().__init__()
            self.clip, self.image = clip, image

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.clip.encode_image(x) if self.image else self.clip.encode_text(x)

    height, width = config.preprocess.image_size
    image = torch.randn(2, 3, height, width)
    _export_one(Tower(model, True).eval(), image, "image", out_dir / VISUAL_FILE, opset)
    path = out_dir / TEXTUAL_FILE
    parts = trimmable_text(model, tokenizer.eot_token_id)
    if parts is not None and export_trimmed_text(parts, config, path, opset):
        if trimmed_text_agreement(model, tokenizer, path, CHECK_TEXTS) >= MIN_COSINE:
            return dataclasses.replace(config, text_trim=True)
    text = torch.zeros(2, config.context_length, dtype=torch.long)
    text[:, 0], text[:, 1] = config.vocab_size - 2, config.vocab_size - 1
    _export_one(Tower(model, False).eval(), text, "text", path, opset)
    return dataclasses.replace(config, text_trim=False)


def _export_one(module: Any, example: Any, input_name: str, path: Path, opset: int) -> None:
    """A fixed-shape TorchScript export (only the batch axis is dynamic)."""
    import torch

    with exporting():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[input_name],
            output_names=["embedding"],
            dynamic_axes={input_name: {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )


def check_images(count: int = CHECK_IMAGES, seed: int = 0) -> list[Image.Image]:
    """Varied synthetic photos (sizes, aspect ratios, gradients, shapes) for export checks."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        width, height = int(rng.integers(60, 700)), int(rng.integers(60, 700))
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        base = ramp * rng.uniform(0.2, 1.0, 3) + rng.uniform(0, 80, 3)
        pixels = np.broadcast_to(base, (height, width, 3)) + rng.normal(0, 12, (height, width, 3))
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        box = sorted(rng.integers(0, min(width, height), 4).tolist())
        ImageDraw.Draw(image).ellipse(box, fill=tuple(rng.integers(0, 256, 3).tolist()))
        images.append(image if i % 3 else image.convert("L").convert("RGB"))
    return images


def _check_against_torch(
    model: Any, transform: Any, tokenizer: Any, out_dir: Path, config: ClipConfig
) -> tuple[NDArray[np.float32], dict[str, float]]:
    """Feed torch open_clip's inputs and ONNX Hachi's own; return Hachi's batch and metrics.

    A trimmed text graph is also fed the cut batches the runtime feeds it, and must still
    give torch's full-width embeddings.
    """
    import torch

    images = check_images()
    ours = preprocess_batch(images, config.preprocess)
    theirs = torch.stack([transform(image) for image in images])
    tokens = tokenizer(list(CHECK_TEXTS)).numpy()
    with torch.no_grad():
        torch_image = model.encode_image(theirs).numpy()
        torch_text = model.encode_text(torch.from_numpy(tokens)).numpy()
    our_tokens = ClipTokenizer(
        out_dir / config.tokenizer.vocab_file, config.context_length, config.tokenizer.clean
    )(list(CHECK_TEXTS))
    if not np.array_equal(our_tokens, tokens):
        raise ModelUnavailable("Hachi's tokenizer disagrees with open_clip's for this model")
    onnx_image = _raw_outputs(out_dir / VISUAL_FILE, ours)
    runs = text_runs(out_dir / TEXTUAL_FILE, our_tokens, tokenizer.eot_token_id, config.text_trim)
    metrics = {
        "preprocess_max_abs_diff": float(np.abs(ours - theirs.numpy()).max()),
        "image_max_abs_diff": float(np.abs(onnx_image - torch_image).max()),
        "text_max_abs_diff": max(float(np.abs(run - torch_text).max()) for run in runs),
        "image_min_cosine": min_cosine(onnx_image, torch_image),
        "text_min_cosine": min(min_cosine(run, torch_text) for run in runs),
    }
    if min(metrics["image_min_cosine"], metrics["text_min_cosine"]) < MIN_COSINE:
        raise ModelUnavailable("exported ONNX graphs disagree with torch", metrics)
    return ours, metrics


def _raw_outputs(path: Path, inputs: NDArray[Any]) -> NDArray[np.float32]:
    from hachi.ml.sessions import create_session

    session = create_session(path)
    (output,) = session.run(None, {session.get_inputs()[0].name: inputs})
    return np.asarray(output, dtype=np.float32)

"""Hachi's CLIP pipeline against open_clip itself: tokens, pixels, and embeddings.

Runs in the export virtualenv (torch + open-clip-torch); skipped, with the reason, where
open_clip is not importable, as in the main virtualenv:

    .venv-export/bin/python -m pytest tests/test_clip_parity.py -q

Tests that export a model (a few seconds each on two cores) are marked slow.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

open_clip = pytest.importorskip("open_clip", reason="needs open-clip-torch (the export venv)")
torch = pytest.importorskip("torch")

from hachi.cli import main as hachi_main  # noqa: E402
from hachi.ml.clip.config import PreprocessConfig, load_config  # noqa: E402
from hachi.ml.clip.encoders import ClipModel  # noqa: E402
from hachi.ml.clip.export import check_images  # noqa: E402
from hachi.ml.clip.preprocess import preprocess_image  # noqa: E402
from hachi.ml.clip.tokenizer import ClipTokenizer  # noqa: E402

ROOT = Path(__file__).parents[1]
INT8_MARGIN = 0.003  # other texts than the export's check texts may agree a little less
STANDARD_VOCAB = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
TEXTS = [
    "a photo of a cat",
    "Hello, World! It's 2024 &amp; we're here.",
    "",
    "   lots\tof \n\n whitespace   ",
    "naïve café Ünïcödé — “curly quotes” don't we'll I'M",
    "東京の夜景 🐶🐶 emoji and CJK",
    "mojibake: CafÃ© crÃ¨me",
    "numbers 1234567890 and 3.14159",
    "<start_of_text> special <end_of_text> tokens inside",
    "dog_on_the_beach.jpg IMG_1234.HEIC",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "word " * 100,
    "Straße, ﬁnancial ligature, ½ fraction, Ａｂｃ fullwidth",
    "!!!???...---***",
]


def load_tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("clean", ["lower", "whitespace", "canonicalize"])
@pytest.mark.parametrize("context_length", [77, 16])
def test_tokens_identical_to_open_clip(clean: str, context_length: int) -> None:
    ours = ClipTokenizer(STANDARD_VOCAB, context_length=context_length, clean=clean)
    theirs = open_clip.SimpleTokenizer(context_length=context_length, clean=clean)
    assert np.array_equal(ours(TEXTS), theirs(TEXTS).numpy())


def test_tokens_identical_to_get_tokenizer_of_a_named_model() -> None:
    theirs = open_clip.get_tokenizer("ViT-B-32-256")
    ours = ClipTokenizer(STANDARD_VOCAB, context_length=77)
    assert np.array_equal(ours(TEXTS), theirs(TEXTS).numpy())


def test_tokens_identical_with_the_shapes_model_vocab() -> None:
    vocab = ROOT / "models" / "test" / "shapes-clip" / "shapes_vocab.txt.gz"
    ours = ClipTokenizer(vocab, context_length=16)
    theirs = open_clip.SimpleTokenizer(bpe_path=str(vocab), context_length=16)
    assert np.array_equal(ours(TEXTS), theirs(TEXTS).numpy())


@pytest.mark.parametrize("mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("size", [224, 256, (224, 160)])
def test_pixels_match_open_clip_transform(mode: str, interpolation: str, size: Any) -> None:
    transform = open_clip.image_transform(
        size, is_train=False, mean=MEAN, std=STD, resize_mode=mode, interpolation=interpolation
    )
    pair = (size, size) if isinstance(size, int) else size
    config = PreprocessConfig(pair, MEAN, STD, resize_mode=mode, interpolation=interpolation)
    rng = np.random.default_rng(1)
    shapes = [(640, 480), (480, 640), (225, 301), (1000, 37), (224, 224), (31, 80)]
    for width, height in shapes:
        for image_mode in ("RGB", "L"):
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            image = Image.fromarray(pixels, "RGB").convert(image_mode)
            theirs = transform(image).numpy()
            ours = preprocess_image(image, config)
            assert ours.shape == theirs.shape
            assert np.abs(ours - theirs).max() <= 1e-5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny random model, exported with int8, plus open_clip's own copy of it."""
    tool = load_tool("make_tiny_clip")
    work = tmp_path_factory.mktemp("tiny")
    report = tool.make_tiny_clip(work, image_size=64, int8=True)
    open_clip.add_model_config(work / "src" / f"{tool.ARCH_NAME}.json")
    model, _, transform = open_clip.create_model_and_transforms(
        tool.ARCH_NAME, pretrained=str(work / "src" / f"{tool.ARCH_NAME}.pt")
    )
    return {"dir": work / "model", "report": report, "model": model.eval(), "transform": transform}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


@pytest.mark.slow
def test_image_embeddings_match_torch(tiny: dict[str, Any]) -> None:
    images = check_images(8, seed=99)
    ours = ClipModel(tiny["dir"]).encode_images(images)
    with torch.no_grad():
        batch = torch.stack([tiny["transform"](image) for image in images])
        theirs = tiny["model"].encode_image(batch).numpy()
    assert ours.shape == theirs.shape == (8, 32)
    assert cosines(ours, theirs).min() >= 0.9999


def torch_texts(model: Any, texts: list[str]) -> np.ndarray:
    """open_clip's text embeddings, from all 77 token positions."""
    with torch.no_grad():
        return model.encode_text(open_clip.get_tokenizer("ViT-B-32")(texts)).numpy()


@pytest.mark.slow
def test_text_embeddings_match_torch(tiny: dict[str, Any]) -> None:
    """The trimmed graph, fed a batch cut at its longest text or one query cut at its own
    end token, gives what torch gives from all 77 positions."""
    model = ClipModel(tiny["dir"])
    assert model.config.text_trim
    theirs = torch_texts(tiny["model"], TEXTS)
    assert cosines(model.encode_texts(TEXTS), theirs).min() >= 0.9999
    alone = np.concatenate([model.encode_texts([text]) for text in TEXTS])
    assert cosines(alone, theirs).min() >= 0.9999
    widths = {model.text_encoder.tokens([text]).shape[1] for text in TEXTS}
    assert min(widths) < 10 and max(widths) == 77  # short queries really were cut


@pytest.mark.slow
def test_int8_text_tower_is_within_its_reported_agreement(tiny: dict[str, Any]) -> None:
    from hachi.ml.clip.export import CHECK_TEXTS, INT8_CHECK_TEXTS
    from hachi.ml.clip.quantize import text_int8_agreement

    reported = tiny["report"]["text_int8_min_cosine"]
    assert 0.99 <= reported < 1.0
    assert text_int8_agreement(tiny["dir"], CHECK_TEXTS + INT8_CHECK_TEXTS) == reported
    model = ClipModel(tiny["dir"], text_int8=True)
    int8 = np.concatenate([model.encode_texts([text]) for text in TEXTS])
    assert model.text_quantized
    agreement = cosines(int8, torch_texts(tiny["model"], TEXTS))
    assert agreement.min() >= reported - INT8_MARGIN, agreement


@pytest.mark.slow
def test_export_report_and_folder(tiny: dict[str, Any]) -> None:
    report = tiny["report"]
    assert report["image_max_abs_diff"] < 1e-3 and report["text_max_abs_diff"] < 1e-3
    assert report["preprocess_max_abs_diff"] <= 1e-5
    assert report["int8_mean_cosine"] > 0.99
    assert report["text_trim"] is True and report["text_int8_min_cosine"] > 0.99
    config = load_config(tiny["dir"])
    assert config.text_trim and "textual.int8.onnx" in config.files
    assert config.embed_dim == 32 and config.preprocess.image_size == (64, 64)
    assert set(config.files) == {p.name for p in tiny["dir"].iterdir()} - {"model.json"}


@pytest.mark.slow
def test_int8_image_tower_agrees_with_float32(tiny: dict[str, Any]) -> None:
    images = check_images(6, seed=5)
    fp32 = ClipModel(tiny["dir"]).encode_images(images)
    quantized = ClipModel(tiny["dir"], int8=True)
    int8 = quantized.encode_images(images)
    assert quantized.image_encoder.quantized
    assert np.mean(np.sum(fp32 * int8, axis=1)) > 0.99


def cli_embed(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> np.ndarray:
    assert hachi_main(["embed", "--model", "tiny", *argv, "--json", "--home", str(home)]) == 0
    return np.array(json.loads(capsys.readouterr().out)["embeddings"])


@pytest.mark.slow
def test_cli_export_install_embed_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CustomTextCLIP (text layers under model.text) through the commands a user runs."""
    tool = load_tool("make_tiny_clip")
    arch, checkpoint = tool.make_checkpoint(tmp_path / "src", image_size=32, variant="custom")
    home, out = tmp_path / "home", tmp_path / "exported"
    argv = ["models", "export", str(arch), "--pretrained", str(checkpoint), "--out", str(out)]
    assert hachi_main([*argv, "--name", "tiny", "--json", "--home", str(home)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["text_min_cosine"] >= 0.9999 and report["image_min_cosine"] >= 0.9999
    assert report["text_trim"] is True and report["text_int8_min_cosine"] > 0.99
    assert hachi_main(["models", "install", str(out), "--home", str(home)]) == 0
    capsys.readouterr()
    texts = ["a cat", "!! a dog on the beach !!", TEXTS[4], TEXTS[11]]
    model = open_clip.create_model(tool.arch_name("custom"), pretrained=str(checkpoint)).eval()
    assert isinstance(model, open_clip.CustomTextCLIP)
    theirs = torch_texts(model, texts)
    assert cosines(cli_embed(capsys, home, "--text", *texts), theirs).min() >= 0.9999
    for text, reference in zip(texts, theirs, strict=True):  # one query at a time
        assert cosines(cli_embed(capsys, home, "--text", text), reference[None])[0] >= 0.9999
    int8 = cli_embed(capsys, home, "--int8", "--text", *texts)
    agreement = cosines(int8, theirs)
    assert agreement.min() >= report["text_int8_min_cosine"] - INT8_MARGIN
    assert agreement.min() < 0.99999, "--int8 must use the int8 text tower"


@pytest.mark.slow
def test_bidirectional_text_tower_keeps_the_fixed_length_graph(tmp_path: Path) -> None:
    """Without a causal mask every position changes the embedding: no trimming, no lie."""
    from hachi.ml.clip.export import CHECK_TEXTS, MIN_COSINE
    from hachi.ml.clip.export_text import TextParts, export_trimmed_text, trimmed_text_agreement

    tool = load_tool("make_tiny_clip")
    report = tool.make_tiny_clip(tmp_path, image_size=32, variant="bidir")
    folder = tmp_path / "model"
    assert report["text_trim"] is False and report["text_int8_min_cosine"] is None
    assert not (folder / "textual.int8.onnx").exists()
    model = ClipModel(folder, text_int8=True)
    assert not model.config.text_trim and not model.text_quantized
    assert model.text_encoder.tokens(["a cat"]).shape == (1, 77)
    name = tool.arch_name("bidir")
    theirs = open_clip.create_model(name, pretrained=str(tmp_path / "src" / f"{name}.pt"))
    theirs.eval()
    assert cosines(model.encode_texts(TEXTS), torch_texts(theirs, TEXTS)).min() >= 0.9999
    # the check that guards the export: a trimmed graph of this tower would lie, and says so
    config = load_config(folder)
    forced = tmp_path / "forced.onnx"
    assert export_trimmed_text(TextParts(theirs, "argmax", None), config, forced, 18)
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    assert trimmed_text_agreement(theirs, tokenizer, forced, CHECK_TEXTS) < MIN_COSINE
    assert (
        trimmed_text_agreement(theirs, tokenizer, folder / "textual.onnx", CHECK_TEXTS) < MIN_COSINE
    )


def text_tower(**options: Any) -> Any:
    """A one-layer open_clip TextTransformer, small enough to build in milliseconds."""
    from open_clip.transformer import TextTransformer

    settings = dict(context_length=8, vocab_size=64, width=16, heads=2, layers=1, output_dim=8)
    return TextTransformer(**(settings | options))


@pytest.mark.parametrize(
    ("options", "trimmable"),
    [
        ({}, True),
        ({"pool_type": "eos", "eos_id": 49407}, True),
        ({"pool_type": "eos", "eos_id": 2}, False),  # pools at a token the cut may drop
        ({"pool_type": "last"}, False),
        ({"pool_type": "first"}, False),  # valid in principle, but no such model exists
        ({"embed_cls": True}, False),  # CoCa: a class token appended after the padding
        ({"no_causal_mask": True}, False),
        ({"no_causal_mask": True, "use_pad_mask": True}, False),
    ],
)
def test_which_text_towers_are_trimmed(options: dict[str, Any], trimmable: bool) -> None:
    from hachi.ml.clip.export_text import trimmable_text

    holder = torch.nn.Module()
    holder.text = text_tower(**options)
    assert (trimmable_text(holder, end_id=49407) is not None) == trimmable


def test_export_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    from hachi.errors import BadRequest
    from hachi.ml.clip.export import export_clip

    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(BadRequest):
        export_clip("ViT-B-32", "", tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_export_refuses_hf_tokenizer_models(tmp_path: Path) -> None:
    from hachi.errors import BadRequest
    from hachi.ml.clip.export import export_clip

    with pytest.raises(BadRequest, match="tokenizer"):
        export_clip("ViT-B-16-SigLIP", "", tmp_path / "siglip")


@pytest.mark.slow
def test_embed_cli_on_camera_sized_files_matches_open_clip(
    tiny: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hachi embed --image` reads files the way indexing does (JPEG decoded at reduced scale
    straight from the DCT) and must still agree with open_clip's full-resolution decode."""
    from hachi.config import Settings
    from hachi.ml.store import install_model

    rng = np.random.default_rng(5)
    paths = []
    for i, size in enumerate([(4000, 3000), (3000, 4000), (1600, 1200), (640, 480)]):
        w, h = size
        x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        base = rng.uniform(30, 220, 3).astype(np.float32)
        pixels = base * (0.5 + 0.5 * np.sin(7 * x + i)) * (0.6 + 0.4 * np.cos(5 * y))
        pixels += rng.normal(0, 6, (h, w, 3)).astype(np.float32)
        path = tmp_path / f"photo_{i}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=92)
        paths.append(path)
    home = tmp_path / "home"
    settings = Settings.from_env({}, home=home)
    settings.ensure_dirs()
    install_model(settings, tiny["dir"], name="tiny")
    args = ["embed", "--model", "tiny", "--image", *map(str, paths), "--home", str(home)]
    assert hachi_main(args) == 0
    ours = np.array(json.loads(capsys.readouterr().out)["embeddings"], dtype=np.float32)
    with torch.no_grad():
        batch = torch.stack([tiny["transform"](Image.open(p).convert("RGB")) for p in paths])
        theirs = tiny["model"].encode_image(batch).numpy()
    assert cosines(ours, theirs).min() >= 0.999, cosines(ours, theirs)

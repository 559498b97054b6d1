"""`hachi models ...` and `hachi embed`: install, list, remove, export, quantise, try models.

Thin like the rest of the CLI: each handler parses nothing itself, calls one library
function, and prints; errors are hachi.errors types that `hachi.cli.main` maps to
messages and exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hachi.cli.output import print_json
from hachi.config import Settings
from hachi.errors import UnreadableFile
from hachi.library import Library

AddCommon = Callable[[argparse.ArgumentParser], None]
MIB = 1024 * 1024


@contextmanager
def _library(settings: Settings) -> Iterator[Library]:
    library = Library(settings)
    try:
        yield library
    finally:
        library.close()


def active_clip_name(settings: Settings) -> str:
    """The library's CLIP model (HACHI_CLIP_MODEL, else `hachi models use`, else default)."""
    with _library(settings) as library:
        return str(library.model_service.active()["name"])


def cmd_pull(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.ml.download import pull_model

    name = args.name or active_clip_name(settings)
    installed = pull_model(settings, name, progress=not args.quiet)
    print(f"installed {installed.name} ({installed.size_bytes / MIB:.0f} MiB) in {installed.path}")
    if installed.task == "clip" and not args.no_quantize:
        from hachi.ml.clip.optimize import quantize_after_pull

        print(f"{installed.name}: {quantize_after_pull(settings, installed.name)}")
    with _library(settings) as library:
        job = library.model_service.after_install(installed)
        _print_active(library, job)
    return 0


def _print_active(library: Library, job: Any) -> None:
    active = library.model_service.active()
    line = f"active CLIP model: {active['name']}"
    if active["overridden"]:
        line += f" (HACHI_CLIP_MODEL overrides the library's {active['library_choice']})"
    print(line)
    if job is not None:
        print(f"embedding the library in the background (job {job.id}; runs in `hachi serve`)")


def cmd_use(args: argparse.Namespace, settings: Settings) -> int:
    with _library(settings) as library:
        answer = library.model_service.use(args.name)
        job = library.get_job(answer["job"]["id"]) if answer["job"] else None
        if args.json:
            print_json(answer)
            return 0
        _print_active(library, job)
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.ml.store import installed_models

    models = installed_models(settings)
    with _library(settings) as library:
        service = library.model_service
        towers = {m.name: service.image_tower(m.name) for m in models if m.task == "clip"}
    if args.json:
        print_json([_listed(m.to_dict(), towers.get(m.name)) for m in models])
        return 0
    if not models:
        print(f"no models installed in {settings.models_path}")
        name = active_clip_name(settings)
        print(f"install the library's CLIP model with: hachi models pull {name}")
    for m in models:
        print(f"{m.name}\t{m.task}\t{m.size_bytes / MIB:.1f} MiB\t{m.source}")
        tower = towers.get(m.name)
        if tower is not None:
            print(f"  image tower: {tower['description']}")
    return 0


def _listed(model: dict[str, Any], tower: dict[str, Any] | None) -> dict[str, Any]:
    """A CLIP model's entry says which image tower indexes with it and why."""
    return {**model, "image_tower": tower} if model["task"] == "clip" else model


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.ml.store import remove_model

    remove_model(settings, args.name)
    print(f"removed {args.name}")
    if active_clip_name(settings) == args.name:
        print(
            f"note: {args.name} was the library's CLIP model; choose another with "
            f"`hachi models use NAME`, or `hachi serve` downloads it again",
            file=sys.stderr,
        )
    return 0


def cmd_install(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.ml.store import install_model

    installed = install_model(settings, args.dir, name=args.name)
    print(f"installed {installed.name} in {installed.path}")
    with _library(settings) as library:
        job = library.model_service.after_install(installed)
        if installed.task == "clip":
            _print_active(library, job)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.ml.clip.export import export_clip

    report = export_clip(
        args.arch,
        args.pretrained,
        args.out,
        name=args.name,
        int8=args.int8,
        licence=args.licence,
        vocab_path=args.vocab,
    )
    if args.json:
        print_json(report.to_dict())
        return 0
    print(f"exported {report.config.name} to {report.out_dir} in {report.seconds:.0f} s")
    print(
        f"  max |onnx - torch|: image {report.image_max_abs_diff:.2e}, "
        f"text {report.text_max_abs_diff:.2e}"
    )
    config = report.config
    if config.text_trim:
        print(f"  text tower: runs up to each query's end token (of {config.context_length})")
    else:
        print(f"  text tower: fixed length, always {config.context_length} tokens")
    if report.text_int8_min_cosine is not None:
        print(f"  int8 text tower: least cosine to float32 {report.text_int8_min_cosine:.5f}")
    if report.int8_mean_cosine is not None:
        print(f"  int8 image tower: mean cosine to float32 {report.int8_mean_cosine:.5f}")
    print(f"install it with: hachi models install {report.out_dir}")
    return 0


def cmd_quantize(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.ml.clip.encoders import TEXT_INT8_MIN_COSINE
    from hachi.ml.clip.optimize import quantize_installed

    name = args.name or active_clip_name(settings)
    report = quantize_installed(settings, name, image=args.image)
    if args.json:
        print_json(report.to_dict())
        return 0
    used = "used" if report.text_min_cosine >= TEXT_INT8_MIN_COSINE else "NOT used (too far)"
    print(
        f"{name}: int8 text tower, least cosine to float32 {report.text_min_cosine:.5f}: "
        f"{used} for queries"
    )
    if report.image_mean_cosine is not None:
        print(
            f"{name}: int8 image tower, mean cosine to float32 {report.image_mean_cosine:.5f}"
            " (indexing uses it once it agrees with float32 on the library's first photos)"
        )
    return 0


def cmd_embed(args: argparse.Namespace, settings: Settings) -> int:
    from hachi.ml.clip.encoders import ClipModel
    from hachi.ml.store import model_dir

    name = args.model or active_clip_name(settings)
    model = ClipModel(model_dir(settings, name), int8=args.int8, text_int8=args.int8)
    if args.text is not None:
        vectors = model.encode_texts(args.text)
    else:
        side = max(model.config.preprocess.image_size)
        vectors = model.encode_images([_load_image(Path(p), side) for p in args.image])
    print_json({"model": name, "embeddings": vectors.tolist()})
    return 0


def _load_image(path: Path, min_side: int) -> Any:
    from hachi.media.decode import decode_image

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read {path}: {exc.strerror}", {"path": str(path)}) from exc
    return decode_image(data, min_side, name=path.name).image


def register(subparsers: argparse._SubParsersAction, add_common: AddCommon) -> None:
    """Add `models` (with its sub-commands) and `embed` to the `hachi` parser."""
    models = subparsers.add_parser("models", help="Install, list, remove and export models.")
    sub = models.add_subparsers(dest="models_command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[..., int], text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        add_common(p)
        p.set_defaults(func=handler)
        return p

    p = command("pull", cmd_pull, "Download a model from the manifest (default: the CLIP model).")
    p.add_argument("name", nargs="?", default=None, metavar="NAME")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-quantize",
        action="store_true",
        help="skip making the int8 text tower of a CLIP model (queries ~3x slower)",
    )
    p = command("use", cmd_use, "Make an installed CLIP model the library's; re-embeds.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p = command("list", cmd_list, "Show installed models.")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p = command("remove", cmd_remove, "Delete an installed model.")
    p.add_argument("name", metavar="NAME")
    p = command("install", cmd_install, "Install a model folder (e.g. from `models export`).")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--name", default=None, help="install under this name")
    _add_export(command("export", cmd_export, "Turn an open_clip model into ONNX (needs torch)."))
    p = command(
        "quantize",
        cmd_quantize,
        "Add int8 towers to an installed CLIP model, measured against float32 (needs onnx).",
    )
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help="default: the CLIP model")
    p.add_argument("--image", action="store_true", help="also the image tower")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_embed(subparsers, add_common)


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", metavar="ARCH", help="open_clip architecture, or a model config .json")
    p.add_argument(
        "--pretrained",
        required=True,
        metavar="TAG_OR_FILE",
        help="open_clip pretrained tag, or a local checkpoint file (works offline)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="new model folder")
    p.add_argument("--name", default=None, help="model name (default: ARCH-TAG)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="also write an int8 image tower (an int8 text tower is always written when the"
        " text graph takes trimmed queries)",
    )
    p.add_argument("--licence", default="unknown", help="licence of the weights")
    p.add_argument("--vocab", type=Path, default=None, help="BPE vocab other than CLIP's")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _add_embed(subparsers: argparse._SubParsersAction, add_common: AddCommon) -> None:
    text = "Print CLIP embeddings (L2-normalised, input order) of texts or images as JSON."
    p = subparsers.add_parser("embed", help=text, description=text)
    add_common(p)
    p.set_defaults(func=cmd_embed)
    p.add_argument("--model", default=None, help="installed CLIP model (default: the library's)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", nargs="+", metavar="TEXT")
    what.add_argument("--image", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="JSON output (the only format)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="use the model's int8 towers where it has them (image: visual.int8.onnx, text:"
        " textual.int8.onnx, which the server uses for queries by default); without it both"
        " are float32, the reference that matches open_clip",
    )

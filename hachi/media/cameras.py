"""A readable camera name from EXIF Make and Model.

Makers write their names inconsistently ("NIKON CORPORATION", "OLYMPUS IMAGING CORP.",
"EASTMAN KODAK COMPANY") and often repeat them in the model ("Canon EOS 5D"). The label
is what people see and type; the raw make and model are kept too, so `camera:` matches
either.
"""

from __future__ import annotations

import re

_CORPORATE = re.compile(
    r"[\s,]*\b(corporation|corp\.?|co\.?,?\s*ltd\.?|company|imaging|optical|"
    r"electronics?|electric|computer|digital solutions|camera|inc\.?|ltd\.?|gmbh|ag)\b\.?",
    re.IGNORECASE,
)
_KNOWN = {
    "nikon": "Nikon",
    "olympus": "Olympus",
    "sony": "Sony",
    "canon": "Canon",
    "fujifilm": "Fujifilm",
    "fuji": "Fujifilm",
    "pentax": "Pentax",
    "ricoh": "Ricoh",
    "panasonic": "Panasonic",
    "samsung": "Samsung",
    "kodak": "Kodak",
    "eastman kodak": "Kodak",
    "leica": "Leica",
    "apple": "Apple",
    "google": "Google",
    "huawei": "Huawei",
    "xiaomi": "Xiaomi",
    "oneplus": "OnePlus",
    "lg": "LG",
    "hasselblad": "Hasselblad",
    "casio": "Casio",
    "minolta": "Minolta",
    "konica minolta": "Konica Minolta",
    "sigma": "Sigma",
    "gopro": "GoPro",
    "dji": "DJI",
    "motorola": "Motorola",
    "htc": "HTC",
    "om digital solutions": "OM System",
    "phase one": "Phase One",
    "hp": "HP",
}


def clean_make(make: str) -> str:
    base = _CORPORATE.sub("", make).strip(" ,.")
    key = base.casefold()
    if key in _KNOWN:
        return _KNOWN[key]
    for known, label in _KNOWN.items():
        if key.startswith(known + " "):
            return label
    return base if not base.isupper() or len(base) <= 3 else base.title()


def camera_label(make: str | None, model: str | None) -> str | None:
    """'Nikon D850' from ('NIKON CORPORATION', 'NIKON D850'); None when both are empty."""
    make_label = clean_make(make) if make else ""
    model = (model or "").strip()
    if not model:
        return make_label or None
    for prefix in filter(None, {make_label, (make or "").strip(), make_label.upper()}):
        if model.casefold().startswith(prefix.casefold()):
            model = model[len(prefix) :].strip(" -_")
            break
    return f"{make_label} {model}".strip() or None

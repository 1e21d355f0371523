"""Image variants: a file's image resized and re-encoded with Pillow, bounded against huge
inputs (decompression bombs). Pure functions on bytes; the gateway caches the result in the
blob store under storage.files.variant_key."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageOps

from storage.errors import invalid

FITS = ("cover", "contain", "fill", "inside")
FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
MAX_SIDE = 4096
MAX_PIXELS = 40_000_000  # source images larger than this are refused, not decoded
PRESETS = {"thumbnail": (200, 200, "cover"), "small": (480, 480, "inside"),
           "medium": (1024, 1024, "inside"), "large": (2048, 2048, "inside")}
VARIANTS = (*PRESETS, "custom")


def _side(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise invalid(f"{field} must be a whole number of pixels from 1 to {MAX_SIDE}", field)
    return value


def spec(variant: str, w: Any, h: Any, fit: Any, fmt: Any, mime: str) -> dict[str, Any]:
    """The checked variant parameters (a preset's, overridden by those given)."""
    if variant not in VARIANTS:
        raise invalid(f"variant must be one of {', '.join(VARIANTS)}", "variant")
    pw, ph, pfit = PRESETS.get(variant, (None, None, "inside"))
    w, h = _side(w, "w") or pw, _side(h, "h") or ph
    if w is None and h is None:
        raise invalid("a custom variant needs w and/or h", "w")
    fit = fit or pfit
    if fit not in FITS:
        raise invalid(f"fit must be one of {', '.join(FITS)}", "fit")
    fmt = fmt or {"image/jpeg": "jpeg", "image/webp": "webp"}.get(mime, "png")
    if fmt not in FORMATS:
        raise invalid(f"format must be one of {', '.join(FORMATS)}", "format")
    return {"w": w, "h": h, "fit": fit, "format": fmt,
            "key": f"{w or 0}x{h or 0}-{fit}.{fmt}"}


def render(data: bytes, s: dict[str, Any]) -> bytes:
    """The variant's bytes; 400 naming file_id when the bytes are not a readable image or are
    too large to decode safely."""
    try:
        with Image.open(io.BytesIO(data)) as src:
            if src.width * src.height > MAX_PIXELS:
                raise invalid(f"the image is larger than {MAX_PIXELS} pixels", "file_id")
            src.load()
            img = ImageOps.exif_transpose(src)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise invalid("the file is not an image this service can read", "file_id") from None
    w = s["w"] or max(1, round(img.width * s["h"] / img.height))
    h = s["h"] or max(1, round(img.height * s["w"] / img.width))
    if s["format"] == "jpeg" and img.mode != "RGB":
        img = img.convert("RGB")
    elif img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA")
    if s["fit"] == "cover":
        img = ImageOps.fit(img, (w, h))
    elif s["fit"] == "contain":
        img = img if s["format"] == "jpeg" else img.convert("RGBA")  # transparent bands
        img = ImageOps.pad(img, (w, h), color=(255, 255, 255) if s["format"] == "jpeg" else None)
    elif s["fit"] == "fill":
        img = img.resize((w, h))
    elif img.width > w or img.height > h:  # inside: shrink to fit, never enlarge
        img = ImageOps.contain(img, (w, h))
    out = io.BytesIO()
    img.save(out, format=s["format"].upper())
    return out.getvalue()

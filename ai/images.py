"""Image facts: what can be measured in an image without a captioning model (none is installed
here), and a sentence saying them. Nothing about the image's content is guessed: there is no
OCR or captioning, and the answer says so (`text_found: null`).

Facts: format, dimensions, orientation (after the EXIF rotation), colour mode and transparency,
animation frames, the dominant colours (a median-cut palette of a thumbnail, named after the
nearest of a few common colours, with hex and share), brightness, and EXIF (camera, date taken,
orientation, whether GPS data is present).
"""

from __future__ import annotations

import io
from typing import Any

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
MAX_PIXELS = 50_000_000  # decoded size refused beyond this (a small file can hold a huge image)
SAMPLE = 96  # thumbnail side the colours and brightness are measured on
PALETTE_SIZE = 5
MIN_SHARE = 0.05  # a colour shown in the description covers at least this share
NO_TEXT = "no OCR or captioning model is installed: text and content are not recognised"
NAMES = {
    "black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128),
    "light gray": (200, 200, 200), "dark gray": (64, 64, 64), "red": (220, 30, 30),
    "dark red": (128, 0, 0), "orange": (255, 140, 0), "yellow": (250, 220, 40),
    "olive": (128, 128, 0), "green": (40, 170, 60), "dark green": (0, 90, 30),
    "teal": (0, 128, 128), "cyan": (0, 220, 230), "light blue": (150, 200, 240),
    "blue": (0, 40, 240), "navy": (0, 0, 128), "purple": (128, 40, 160),
    "magenta": (230, 40, 200), "pink": (250, 170, 200), "brown": (130, 80, 30),
    "beige": (230, 215, 180),
}
EXIF_ORIENTATION, EXIF_MAKE, EXIF_MODEL, EXIF_DATETIME = 274, 271, 272, 306
EXIF_IFD, GPS_IFD, DATETIME_ORIGINAL = 0x8769, 0x8825, 36867
ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class NotAnImage(ValueError):
    """The bytes are not a JPEG, PNG, WebP or GIF image Pillow can decode."""


def colour_name(rgb: tuple[int, int, int]) -> str:
    return min(NAMES, key=lambda n: sum((a - b) ** 2 for a, b in zip(NAMES[n], rgb, strict=True)))


def _colours(img: Any) -> list[dict[str, Any]]:
    """The dominant colours of the first frame, biggest share first (transparent pixels
    left out)."""
    from PIL import Image

    rgba = img.convert("RGBA")
    rgba.thumbnail((SAMPLE, SAMPLE))
    alpha = rgba.getchannel("A")
    rgb = rgba.convert("RGB")
    pixels = [p for p, a in zip(rgb.get_flattened_data(), alpha.get_flattened_data(),
                                strict=True) if a >= 128]
    if not pixels:
        return []
    opaque = Image.new("RGB", (len(pixels), 1))
    opaque.putdata(pixels)
    quant = opaque.quantize(colors=PALETTE_SIZE, method=Image.Quantize.MEDIANCUT)
    palette = quant.getpalette() or []
    counts = sorted(quant.getcolors() or [], key=lambda c: (-c[0], c[1]))
    out = []
    for count, index in counts:
        r, g, b = palette[3 * index:3 * index + 3]
        out.append({"name": colour_name((r, g, b)), "hex": f"#{r:02x}{g:02x}{b:02x}",
                    "share": round(count / len(pixels), 3)})
    return out


def _brightness(img: Any) -> float:
    gray = img.convert("L")
    gray.thumbnail((SAMPLE, SAMPLE))
    data = list(gray.get_flattened_data())
    return round(sum(data) / (255 * len(data)), 3) if data else 0.0


def _exif(img: Any) -> dict[str, Any] | None:
    exif = img.getexif()
    if not exif:
        return None
    sub = exif.get_ifd(EXIF_IFD)

    def text(value: Any) -> str | None:
        return str(value).strip("\x00 ").strip() or None if value is not None else None

    return {"camera_make": text(exif.get(EXIF_MAKE)), "camera_model": text(exif.get(EXIF_MODEL)),
            "date_taken": text(sub.get(DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)),
            "orientation": exif.get(EXIF_ORIENTATION),
            "gps_present": bool(exif.get_ifd(GPS_IFD))}


def _open(data: bytes) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        if img.format not in FORMATS:
            raise NotAnImage(f"a {img.format} image: JPEG, PNG, WebP or GIF are described")
        if img.width * img.height > MAX_PIXELS:
            raise NotAnImage(f"{img.width}x{img.height} pixels: at most {MAX_PIXELS:,} are read")
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as exc:
        if isinstance(exc, NotAnImage):
            raise
        raise NotAnImage("the file's bytes are not a readable JPEG, PNG, WebP or GIF "
                         "image") from exc
    return img


def facts(data: bytes) -> dict[str, Any]:
    """What can be measured of an image (see the module docstring), or NotAnImage."""
    img = _open(data)
    exif = _exif(img)
    width, height = img.size
    if exif and exif["orientation"] in ROTATED:
        width, height = height, width
    orientation = ("square" if width == height else
                   "landscape" if width > height else "portrait")
    alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    transparent = alpha and img.convert("RGBA").getchannel("A").getextrema()[0] < 255
    frames = int(getattr(img, "n_frames", 1))
    return {"format": img.format, "mime_type": FORMATS[img.format], "width": width,
            "height": height, "orientation": orientation, "mode": img.mode,
            "has_alpha": alpha, "transparent": bool(transparent), "frames": frames,
            "animated": frames > 1, "colors": _colours(img), "brightness": _brightness(img),
            "exif": exif, "text_found": None, "text_found_reason": NO_TEXT}


def sentence(f: dict[str, Any]) -> str:
    """The facts in one or two sentences (only measured facts, never the image's content)."""
    light = f["brightness"]
    tone = "dark" if light < 0.3 else "bright" if light > 0.7 else "medium-bright"
    kind = f"animated {f['format']} of {f['frames']} frames" if f["animated"] else f["format"]
    out = f"A {f['orientation']} {f['width']}x{f['height']} {kind} image, {tone}"
    shown = [c for c in f["colors"] if c["share"] >= MIN_SHARE][:3]
    if shown:
        colours = ", ".join(f"{c['name']} ({c['hex']}, {round(100 * c['share'])}%)" for c in shown)
        out += f", mostly {colours}"
    if f["transparent"]:
        out += ", with transparent areas"
    out += "."
    exif = f["exif"] or {}
    camera = " ".join(v for v in (exif.get("camera_make"), exif.get("camera_model")) if v)
    if camera or exif.get("date_taken"):
        out += " Taken" + (f" with a {camera}" if camera else "")
        out += (f" on {exif['date_taken']}" if exif.get("date_taken") else "") + "."
    if exif.get("gps_present"):
        out += " It carries GPS location data."
    return out

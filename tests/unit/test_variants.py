"""Image variants: parameters checked against presets and bounds, Pillow rendering per fit,
and refusal of non-images and decompression bombs."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from serve import variants
from storage.errors import ApiError


def png(w: int = 300, h: int = 150, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (w, h), "red").save(out, "PNG")
    return out.getvalue()


def size_of(data: bytes) -> tuple[tuple[int, int], str]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size, img.format


@pytest.mark.parametrize("fit,size", [("cover", (100, 100)), ("contain", (100, 100)),
                                      ("fill", (100, 100)), ("inside", (100, 50))])
def test_fits(fit, size):
    s = variants.spec("custom", 100, 100, fit, "webp", "image/png")
    assert size_of(variants.render(png(), s)) == (size, "WEBP")


def test_presets_defaults_and_one_side():
    s = variants.spec("thumbnail", None, None, None, None, "image/jpeg")
    assert (s["w"], s["h"], s["fit"], s["format"]) == (200, 200, "cover", "jpeg")
    assert size_of(variants.render(png(mode="RGBA"), s)) == ((200, 200), "JPEG")
    s = variants.spec("custom", None, 40, None, None, "image/png")
    assert size_of(variants.render(png(), s)) == ((80, 40), "PNG")
    small = variants.spec("large", None, None, None, "png", "image/png")
    assert size_of(variants.render(png(), small))[0] == (300, 150)  # inside never enlarges


@pytest.mark.parametrize("args,field", [
    (("huge", None, None, None, None), "variant"), (("custom", None, None, None, None), "w"),
    (("custom", 0, None, None, None), "w"), (("custom", 10, 4097, None, None), "h"),
    (("custom", 10, 10, "stretch", None), "fit"), (("custom", 10, 10, None, "gif"), "format")])
def test_bad_parameters(args, field):
    with pytest.raises(ApiError) as info:
        variants.spec(*args, "image/png")
    assert info.value.details["field"] == field


def test_refuses_non_images_and_bombs(monkeypatch):
    s = variants.spec("thumbnail", None, None, None, None, "image/png")
    for data in (b"not an image", png()[:40]):
        with pytest.raises(ApiError) as info:
            variants.render(data, s)
        assert info.value.details["field"] == "file_id"
    monkeypatch.setattr(variants, "MAX_PIXELS", 300 * 150 - 1)
    with pytest.raises(ApiError, match="larger than"):
        variants.render(png(), s)

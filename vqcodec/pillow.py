"""A Pillow plugin for .vqc files, registered by ``import vqcodec``.

``PIL.Image.open("x.vqc")`` reads the size and mode from the header alone (no model, no
torch), and a file's ICC profile, EXIF and XMP into ``info``; the pixels are decoded by
``load()``. ``im.save("x.vqc", quality=6)`` compresses,
taking ``quality`` and ``model`` like :func:`vqcodec.compress`. Registering imports
only Pillow; the codec (and torch) is imported on the first load or save.
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

FORMAT = "VQC"
MAGIC = b"\x89VQC"  # container.MAGIC, repeated so that registering imports nothing else


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == MAGIC


class VQCImageFile(ImageFile.ImageFile):
    """A .vqc file opened by Pillow: header now, pixels on ``load()``."""

    format = FORMAT
    format_description = "vqcodec learned image"

    def _open(self) -> None:
        from . import container

        header = container.read_header(self.fp.read(container.HEADER_MAX_BYTES))
        self._size = (header.width, header.height)
        self._mode = header.mode
        self.info["model"] = header.model
        if header.format_version > container.METADATA_VERSIONS:  # ICC, EXIF, XMP: into info
            from .metadata import to_info

            self.fp.seek(0)
            self.info.update(to_info(container.parse(self.fp.read()).metadata))
        self.tile = [ImageFile._Tile(FORMAT, (0, 0, *self._size), 0)]


class VQCDecoder(ImageFile.PyDecoder):
    """Decodes the whole file at once (it is one range-coded unit, not rows)."""

    _pulls_fd = True

    def decode(self, buffer: bytes | Image.SupportsArrayInterface) -> tuple[int, int]:
        from . import api

        assert self.fd is not None
        self.fd.seek(0)
        image = api.decompress(self.fd.read())
        self.set_as_raw(image.tobytes(), image.mode)
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    from . import api

    options = im.encoderinfo
    quality, strip = options.get("quality", 6), options.get("strip", False)
    fp.write(api.compress(im, quality, model=options.get("model"), strip=strip))


Image.register_open(FORMAT, VQCImageFile, _accept)
Image.register_decoder(FORMAT, VQCDecoder)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".vqc")
Image.register_mime(FORMAT, "image/x-vqc")

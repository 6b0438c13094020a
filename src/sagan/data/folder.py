"""A class-per-subfolder image dataset (ImageNet's train layout) that tolerates messy folders.

Every image comes out as a uint8 tensor [3, R, R]: converted to RGB, resized so that its
shorter side is R and centre-cropped. Unreadable files are skipped and counted rather than
crashing a multi-day training run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset
from tqdm import tqdm

from sagan.errors import SaganError

IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm",
)  # fmt: skip

# Pillow refuses images over ~179M pixels as "decompression bombs"; real photo collections
# contain legitimate panoramas and scans that large. Allow up to 1e9 pixels (about 3 GB as RGB).
MAX_PIXELS = 1_000_000_000

_PROGRESS_THRESHOLD = 2000  # below this a scan takes about a second; a bar would only flicker
_SCAN_THREADS = 8  # header reads are I/O bound, so threads hide file-system latency
_SCAN_CHUNK = 256

_guard_lock = threading.Lock()
_guard_depth = 0
_guard_saved: tuple[bool, int | None] = (False, None)


@contextmanager
def _strict_pil() -> Iterator[None]:
    """Make Pillow fail on truncated files and accept large images, then restore its settings.

    Pillow keeps both settings in module globals. Reference counting under a lock keeps
    overlapping uses from several threads from restoring them too early or leaving them changed.
    """
    global _guard_depth, _guard_saved
    with _guard_lock:
        if _guard_depth == 0:
            _guard_saved = (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS)
            # A truncated JPEG would otherwise be padded with grey and silently trained on.
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            if Image.MAX_IMAGE_PIXELS is not None:
                Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, MAX_PIXELS)
        _guard_depth += 1
    try:
        yield
    finally:
        with _guard_lock:
            _guard_depth -= 1
            if _guard_depth == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = _guard_saved


def _check_size(img: Image.Image) -> None:
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"image is {width}x{height} pixels, over the {MAX_PIXELS:.0e} limit")


def _high_bit_depth_to_rgb(img: Image.Image) -> Image.Image:
    """Scale 16-bit ('I;16*', 'I') or float ('F', assumed 0..1) grey to 8-bit RGB.

    Pillow's own convert('RGB') clips these values at 255 instead of scaling them, which turns
    almost every 16-bit image pure white.
    """
    if img.mode == "F":
        values = np.asarray(img, dtype=np.float64).clip(0.0, 1.0) * 255.0
        grey = np.rint(values).astype(np.uint8)
    else:
        values = np.asarray(img).astype(np.int64).clip(0, 65535)
        grey = ((values * 255 + 32767) // 65535).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")


def _has_alpha(img: Image.Image) -> bool:
    return "A" in img.mode or "a" in img.mode or "transparency" in img.info


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB.

    Transparent images (RGBA, LA, palette with transparency) are composited on black, so
    that invisible pixels, whose colour is arbitrary, come out the same in every image.
    16-bit images are scaled, not clipped. CMYK, palette, grey and 1-bit use Pillow's convert.
    """
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        return _high_bit_depth_to_rgb(img)
    if _has_alpha(img):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint16)
        rgb = (rgba[..., :3] * rgba[..., 3:] + 127) // 255
        return Image.fromarray(rgb.astype(np.uint8), "RGB")
    return img.convert("RGB")


def _upright(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a malformed EXIF block should not cost us the pixels
        return img


def decode_image_file(path: str | Path, resolution: int) -> torch.Tensor:
    """Decode one image file into a uint8 tensor [3, R, R], where R is `resolution`.

    The image is turned upright from its EXIF orientation, converted to RGB with `to_rgb`,
    and its centred square of side min(width, height) is resized to R x R with an
    antialiased bicubic filter (the same as resizing the shorter side to R, then
    centre-cropping). Raises an exception (OSError, ValueError, ...) when the file cannot be
    decoded, including truncated files.
    """
    irregular = _irregular(str(path))
    if irregular:
        raise OSError(f"{path}: {irregular}")
    with _strict_pil(), Image.open(path) as img:
        _check_size(img)
        # JPEG can decode at 1/2, 1/4 or 1/8 scale almost for free; it keeps both sides >= R.
        img.draft("RGB", (resolution, resolution))
        img.load()
        rgb = to_rgb(_upright(img))
    width, height = rgb.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    out = rgb.resize(
        (resolution, resolution),
        Image.Resampling.BICUBIC,
        box=(left, top, left + side, top + side),
        reducing_gap=3.0,  # pre-shrink huge images with a box filter; nearly identical result
    )
    return torch.from_numpy(np.array(out, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def _irregular(path: str) -> str | None:
    """Why `path` is not a regular file, or None. Opening a named pipe would block forever."""
    if os.path.isfile(path):
        return None
    if os.path.islink(path):
        return "broken symbolic link"
    return "not a regular file (a named pipe, socket or device)"


def skip_reason(error: BaseException) -> str:
    """A short, one-line reason why a file could not be used, for warnings and lists."""
    if isinstance(error, UnidentifiedImageError):
        return "not a readable image"
    if isinstance(error, PermissionError):
        return "permission denied"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:160] if text else type(error).__name__


def _probe(path: str) -> tuple[str | None, str | None]:
    """Read only the header of `path`: returns (mode, None) or (None, reason)."""
    irregular = _irregular(path)
    if irregular:
        return None, irregular
    try:
        with Image.open(path) as img:
            _check_size(img)
            return img.mode, None
    except Exception as error:  # any failure just means "skip this file"
        return None, skip_reason(error)


def _probe_chunk(paths: list[str]) -> list[tuple[str | None, str | None]]:
    return [_probe(p) for p in paths]


def _probe_all(paths: list[str]) -> list[tuple[str | None, str | None]]:
    chunks = [paths[i : i + _SCAN_CHUNK] for i in range(0, len(paths), _SCAN_CHUNK)]
    results: list[tuple[str | None, str | None]] = []
    bar = tqdm(
        total=len(paths),
        desc="scanning images",
        unit="file",
        leave=False,
        disable=len(paths) <= _PROGRESS_THRESHOLD,
    )
    with _strict_pil(), bar, ThreadPoolExecutor(_SCAN_THREADS) as pool:
        for chunk_result in pool.map(_probe_chunk, chunks):
            results.extend(chunk_result)
            bar.update(len(chunk_result))
    return results


def _walk_class(folder: Path) -> tuple[list[str], list[str]]:
    """Every non-hidden file under `folder`, split into (image candidates, other files)."""
    images: list[str] = []
    others: list[str] = []
    seen: set[str] = set()
    for current, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:  # a symlink loop; os.walk would otherwise recurse forever
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            target = images if name.lower().endswith(IMAGE_EXTENSIONS) else others
            target.append(os.path.join(current, name))
    return images, others


def _visible_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".")


def _files_that(count: int, plural: str, singular: str) -> str:
    return f"{count} files that {plural}" if count != 1 else f"1 file that {singular}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def relative_name(path: str, root: Path) -> str:
    """`path` relative to `root` when it lies under it, else unchanged."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def _class_dirs(root: Path) -> list[Path]:
    if not root.exists():
        raise SaganError(
            f"data folder '{root}' does not exist: pass --data with a folder that has "
            "one subfolder per class, a CIFAR-10 'cifar-10-batches-py' folder, or 'digits'"
        )
    if not root.is_dir():
        raise SaganError(
            f"data path '{root}' is a file, not a folder: pass --data with a folder "
            "that has one subfolder per class of images"
        )
    dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if dirs:
        return dirs
    has_files = any(_visible_file(p) for p in root.iterdir())
    detail = "has files but no class subfolders" if has_files else "is empty"
    raise SaganError(
        f"data folder '{root}' {detail}: put the images in one subfolder per class, "
        f"e.g. '{root / 'all'}' if there are no classes"
    )


def scan_image_folder(
    root: Path, log: Callable[[str], None] = print
) -> tuple[list[str], list[tuple[str, int]]]:
    """List the image candidates of a class-per-subfolder tree, without opening them.

    Returns (class folder names, sorted; [(path, index into those names)]). Files directly
    in `root` and files without an image extension are ignored, each kind counted in one
    warning line. Raises SaganError when there are no class folders or no image files.
    """
    class_dirs = _class_dirs(root)
    loose = sorted(p.name for p in root.iterdir() if _visible_file(p))
    if loose:
        log(
            f"warning: ignored {_plural(len(loose), 'file')} directly in '{root}'; "
            f"only files inside class subfolders are used (e.g. {loose[0]!r})"
        )
    candidates: list[tuple[str, int]] = []
    ignored: list[str] = []
    for index, folder in enumerate(class_dirs):
        images, others = _walk_class(folder)
        candidates.extend((p, index) for p in images)
        ignored.extend(others)
    if ignored:
        log(
            f"warning: ignored {_files_that(len(ignored), 'are not images', 'is not an image')}"
            f" (e.g. {relative_name(ignored[0], root)!r})"
        )
    if not candidates:
        raise SaganError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in the class subfolders "
            f"of '{root}': put the images in one subfolder per class"
        )
    return [d.name for d in class_dirs], candidates


class ImageFolderDataset(Dataset):
    """Images stored as root/<class name>/**/<image>, labelled by sorted class-folder name.

    Items are (uint8 tensor [3, R, R], label, skipped). A file that fails to decode is
    replaced by the next good one and counted in `skipped`, so that a training loop can
    add up the failures reported by DataLoader workers.

    Attributes: `classes` (sorted class names that have at least one readable image),
    `num_classes`, `samples` (list of (path, label)), `labels` (torch.long tensor).
    """

    def __init__(
        self, root: str | Path, resolution: int, log: Callable[[str], None] = print
    ) -> None:
        self.root = Path(root)
        self.resolution = int(resolution)
        names, candidates = scan_image_folder(self.root, log)
        self._keep_readable(candidates, names, log)

    def _keep_readable(
        self, candidates: list[tuple[str, int]], names: list[str], log: Callable[[str], None]
    ) -> None:
        """Probe every candidate's header, drop unreadable files and empty classes, relabel."""
        probes = _probe_all([path for path, _ in candidates])
        failures = [(path, why) for (path, _), (_, why) in zip(candidates, probes) if why]
        good = [(c, mode) for c, (mode, why) in zip(candidates, probes) if why is None]
        if not good:
            path, why = failures[0]
            raise SaganError(
                f"none of the {len(failures)} image files under '{self.root}' could be read "
                f"(e.g. {self._rel(path)!r}: {why}): check the files or pass another --data folder"
            )
        if failures:
            path, why = failures[0]
            what = _files_that(len(failures), "are not readable images", "is not a readable image")
            log(f"warning: skipped {what} (e.g. {self._rel(path)!r}: {why})")
        converted = sum(1 for _, mode in good if mode != "RGB")
        if converted:
            verb = "image is" if converted == 1 else "images are"
            log(
                f"note: {converted} {verb} grayscale, palette, CMYK, RGBA or 16-bit; "
                "they are converted to RGB"
            )
        used = sorted({label for (_, label), _ in good})
        relabel = {old: new for new, old in enumerate(used)}
        if len(used) < len(names):
            empty = [name for i, name in enumerate(names) if i not in relabel]
            log(
                f"warning: dropped {_plural(len(empty), 'class folder')} with no readable "
                f"images (e.g. {empty[0]!r})"
            )
        self.classes: list[str] = [names[i] for i in used]
        self.num_classes = len(self.classes)
        self.samples: list[tuple[str, int]] = [(p, relabel[label]) for (p, label), _ in good]
        self.labels = torch.tensor([label for _, label in self.samples], dtype=torch.long)

    def _rel(self, path: str) -> str:
        return relative_name(path, self.root)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        """Return (image, label, skipped): `skipped` files failed before a good one was found."""
        for skipped in range(len(self.samples)):
            path, label = self.samples[(index + skipped) % len(self.samples)]
            try:
                return decode_image_file(path, self.resolution), label, skipped
            except Exception:  # a bad file must not stop a training run
                continue
        raise SaganError(
            f"every one of the {len(self.samples)} images under '{self.root}' failed to decode: "
            "check the files or pass another --data folder"
        )

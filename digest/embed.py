"""Sentence embeddings from wordllama's bundled model, read straight from the installed package.

wordllama 0.4 (MIT) ships its 256-dimension ``l2_supercat`` weights (16 MB, float16
safetensors) and their tokenizer (a Hugging Face ``tokenizers`` JSON file) in the wheel. Its
sentence embedding is simple: tokenize with padding and no truncation, look up each token's
row, average over the real tokens, L2-normalise. :class:`Model` does exactly that with the
same libraries wordllama uses (``tokenizers``, ``safetensors``), on the same files, in the same
batches and float32 operations, so the vectors are wordllama's bit for bit
(``tests/test_embed.py`` compares them with ``WordLlama.load(...).embed`` on real feeds).

Why not through wordllama itself: importing the package loads its training configuration and
``requests`` (0.24 s of CPU). Here nothing is downloaded or imported from the network stack:
the files are found with ``importlib`` without importing wordllama. Cost measured on this
machine: load about 0.1 s (mostly the tokenizer's JSON), once per process; the 194 texts of
the demo window embedded in 0.07 s, 9,700 (50 times the sources) in 1.5-2 s. The matrix is
used as float32, as wordllama does: gathering float16 rows and converting each batch was 25 %
slower at 50 times the sources. Reading the float16 file and converting it cost 0.02 s of CPU
a run, so the float32 matrix is kept on disk (:func:`cached_weights`, in the user's cache
folder) and memory-mapped: a run reads only the rows of the tokens its texts use.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "UNREAD_SHARE",
    "Model",
    "cache_folder",
    "cached_weights",
    "embed",
    "embed_read",
    "model",
    "save_weights",
]

log = logging.getLogger("digest.embed")

WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"
"""The bundled weights inside the wordllama package (``embedding.weight``, 32,000 × 256)."""
TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"
"""The bundled tokenizer inside the wordllama package."""
STALE_DAYS = 30
"""A float32 copy of weights no run read for this many days is removed (see
:func:`save_weights`)."""
BATCH = 64
"""Texts tokenized and pooled at once (wordllama's ``embed`` default; padding is per batch)."""
UNREAD_SHARE = 0.75
"""A text of which more than this share of the tokens that carry letters are single letters
or raw bytes is one the model does not read (:meth:`Model.letter_shares`). The model's
vocabulary holds word pieces of Latin and Cyrillic writing; Arabic-script (Urdu), Greek,
Hangul, Han and kana text falls apart into single characters or bytes, and the mean of a few
dozen letter vectors is nearly the same for any text of that script: unrelated Urdu
headlines have a cosine of 0.84 on average, Chinese 0.42, English 0.00 (eight unrelated
headlines written for the test in each language). Measured shares: the entries of the
labelled real windows and GoogleNews 0.33 at most with their text, 0.56 on titles alone
(GoogleNews' lower-cased "gta dlc beach sandy place"), German and Portuguese 0.07-0.10;
Urdu, Chinese, Greek, Korean and Japanese 0.99-1.0, Chinese or Urdu naming "iPhone" 0.91.
The cut sits in the gap: any value between 0.57 and 0.90 gives the same answer on every
labelled set and on those texts."""


def package_folder() -> Path:
    """The installed wordllama package's folder, found without importing it.

    Raises ``FileNotFoundError`` when wordllama is not installed."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("wordllama is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_folder() -> Path | None:
    """Where derived files are kept between runs: ``$XDG_CACHE_HOME/digest``, else
    ``~/.cache/digest`` (the XDG base directory specification's default); ``None`` when
    neither is set nor a home directory known."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "digest"


def cached_weights(weights: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The float32 copy of the float16 matrix ``weights`` (a safetensors file whose
    ``embedding.weight`` has ``shape``), memory-mapped read-only from :func:`cache_folder`,
    or ``None`` when there is none yet or it is not that matrix (wrong shape or type, a
    truncated or foreign file). Named by the weights file's path, size and modification
    time, so a reinstalled package gets a new copy."""
    path = _cache_path(weights)
    if path is None:
        return None
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.debug("embed.cache_unreadable path=%s error=%r", path, str(exc))
        return None
    if matrix.shape != tuple(shape) or matrix.dtype != np.float32:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # in use: :func:`save_weights` removes only copies long unused
    return matrix


def save_weights(weights: Path, matrix: np.ndarray) -> None:
    """Keep ``matrix`` (float32) as the copy :func:`cached_weights` reads for ``weights``:
    written to a temporary name and renamed into place (a concurrent run reads the whole
    file or none); copies of other weights files unused for :data:`STALE_DAYS` are removed
    (those of a package since reinstalled; several installations in use keep theirs). A
    folder that cannot be written is no error (the next run converts again)."""
    path = _cache_path(weights)
    if path is None:
        return
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as f:
            np.save(f, matrix, allow_pickle=False)
        os.replace(part, path)
    except OSError as exc:
        log.debug("embed.cache_unwritable path=%s error=%r", path, str(exc))
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        return
    stale = time.time() - STALE_DAYS * 86400
    for old in path.parent.glob(f"{WEIGHTS.stem}-*.npy"):
        with contextlib.suppress(OSError):
            if old != path and old.stat().st_mtime < stale:
                old.unlink(missing_ok=True)


def _cache_path(weights: Path) -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    try:
        stat = weights.stat()
        key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    except OSError:
        key = str(weights)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder / f"{WEIGHTS.stem}-{digest}.npy"


class Model:
    """wordllama's dense sentence embedding over its bundled files (``WordLlamaInference``
    with ``binary=False``): ``embedding`` is the token matrix (vocabulary × 256, stored as
    float16, held as float32, possibly a read-only memory map), ``tokenizer`` a
    ``tokenizers.Tokenizer`` set to pad and never truncate."""

    def __init__(self, embedding: np.ndarray, tokenizer: Any) -> None:
        self.embedding = np.ascontiguousarray(embedding.astype(np.float32, copy=False))
        self.tokenizer = tokenizer
        self.tokenizer.enable_padding()
        self.tokenizer.no_truncation()
        self._kinds: np.ndarray | None = None

    def token_kinds(self) -> np.ndarray:
        """Per token id (int8): 0 carries no letter (digits, punctuation, the word marker,
        padding), 1 is a single letter or a raw byte (``<0xE8>``), 2 a piece of two or more
        letters. Computed once from the tokenizer's vocabulary."""
        if self._kinds is None:
            kinds = np.zeros(self.embedding.shape[0], dtype=np.int8)
            for token, i in self.tokenizer.get_vocab().items():
                if i >= kinds.size:
                    continue
                if token.startswith("<0x") and token.endswith(">") and len(token) == 6:
                    kinds[i] = 1
                    continue
                letters = sum(1 for c in token.lstrip("\u2581") if c.isalpha())
                kinds[i] = 0 if letters == 0 else (1 if letters == 1 else 2)
            self._kinds = kinds
        return self._kinds

    def letter_shares(self, texts: list[str]) -> np.ndarray:
        """Per text (float64, 0..1), the share of its letter-carrying tokens that are single
        letters or raw bytes: near 0.1 for text the vocabulary holds words of (English,
        German, Portuguese, Russian), near 1 for a script it spells letter by letter (Urdu,
        Chinese, Greek, Korean). A text without letters gets 0. See :data:`UNREAD_SHARE`;
        :meth:`embed` gives the same numbers from its own tokenization (``shares=``)."""
        out = np.zeros(len(texts), dtype=np.float64)
        self.embed(texts, shares=out)
        return out

    def _shares(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        found = self.token_kinds()[ids]
        found[mask == 0] = 0
        letters = np.count_nonzero(found, axis=1)
        single = np.count_nonzero(found == 1, axis=1)
        return np.where(letters > 0, single / np.maximum(letters, 1), 0.0)

    @classmethod
    def load(cls, folder: Path) -> Model:
        """The model whose files are in ``folder`` (the wordllama package). Raises
        ``FileNotFoundError`` (or the libraries' own errors) when a file is missing or bad."""
        from safetensors import safe_open
        from tokenizers import Tokenizer

        for name in (WEIGHTS, TOKENIZER):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"no {name} in {folder}")
        with safe_open(str(folder / WEIGHTS), framework="np", device="cpu") as f:
            shape = tuple(f.get_slice("embedding.weight").get_shape())  # the header alone
            embedding = cached_weights(folder / WEIGHTS, shape)
            if embedding is None:
                embedding = f.get_tensor("embedding.weight").astype(np.float32)
                save_weights(folder / WEIGHTS, embedding)
        return cls(embedding, Tokenizer.from_file(str(folder / TOKENIZER)))

    def embed(
        self, texts: list[str], norm: bool = False, shares: np.ndarray | None = None
    ) -> np.ndarray:
        """One float32 row of 256 per text (``norm``: L2-normalised), as
        ``WordLlamaInference.embed(texts, norm=norm)`` computes it; ``shares`` (float64, one
        per text), when given, is filled with each text's :meth:`letter_shares` from the
        same tokenization."""
        out = np.empty((len(texts), self.embedding.shape[1]), dtype=np.float32)
        last = self.embedding.shape[0] - 1
        for i in range(0, len(texts), BATCH):
            encoded = self.tokenizer.encode_batch(
                texts[i : i + BATCH], is_pretokenized=False, add_special_tokens=False
            )
            ids = np.array([enc.ids for enc in encoded], dtype=np.int32)
            mask = np.array([enc.attention_mask for enc in encoded], dtype=np.float32)
            np.clip(ids, 0, last, out=ids)
            if shares is not None:
                shares[i : i + ids.shape[0]] = self._shares(ids, mask)
            rows = self.embedding[ids]
            count = np.maximum(mask.sum(axis=1, keepdims=True), 1.0).astype(np.float32)
            pooled = np.sum(rows * mask[..., np.newaxis], axis=1, dtype=np.float32) / count
            if norm:
                pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            out[i : i + pooled.shape[0]] = pooled
        return out


@lru_cache(maxsize=1)
def model() -> Model | None:
    """The loaded bundled model, or ``None`` (logged once) when wordllama or its bundled
    files are missing: callers then fall back to word statistics alone."""
    try:
        return Model.load(package_folder())
    except Exception as exc:  # ImportError, FileNotFoundError for missing files, ...
        log.warning("embed.unavailable error=%s", exc)
        return None


def embed_read(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`embed`'s vectors and, per text, whether the model reads it (bool: its
    :meth:`Model.letter_shares` at most :data:`UNREAD_SHARE`); the rows of texts it does not
    read are zero (similar to nothing), so a caller falls back to word statistics for them.
    ``None`` when the model is unavailable."""
    wl = model()
    if wl is None or not texts:
        return None
    shares = np.zeros(len(texts), dtype=np.float64)
    vectors = np.asarray(
        wl.embed([t or " " for t in texts], norm=True, shares=shares), dtype=np.float32
    )
    read = shares <= UNREAD_SHARE
    vectors[[not (t or "").strip() for t in texts] | ~read] = 0.0
    return vectors, read


def embed(texts: Sequence[str]) -> np.ndarray | None:
    """L2-normalised embeddings, one float32 row of 256 numbers per text, or ``None`` when
    the model is unavailable. Empty texts get a zero row (similar to nothing)."""
    wl = model()
    if wl is None or not texts:
        return None
    vectors = np.asarray(wl.embed([t or " " for t in texts], norm=True), dtype=np.float32)
    vectors[[not (t or "").strip() for t in texts]] = 0.0
    return vectors

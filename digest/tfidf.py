"""TF-IDF rows for story clustering, in numpy and scipy's CSR, without scikit-learn.

Importing scikit-learn's ``TfidfVectorizer`` cost about 1 s of CPU per process against
0.06 s of clustering (issue 14). This module computes what that class computed with the
settings :mod:`digest.cluster`, :mod:`digest.similarity` and
:func:`digest.topics.top_terms` used (a test compares the
cosines on real entries):

- tokens: the lower-cased text's runs of two (or three) or more word characters
  (``(?u)\\b\\w\\w+\\b``, :func:`tokenize`), or bags of tokens the caller made (the names of
  :mod:`digest.similarity`);
- vocabulary: the terms in at least ``min_df`` documents (a count) and at most ``max_df``
  of them (a fraction of the batch; with ``by_script``, of the documents that hold a term
  written in the same script, :func:`script_of`); none left: ``None``;
- weights: ``tf · idf`` with ``tf = 1 + ln(count)`` (sublinear) or the count, and the smooth
  ``idf = ln((1 + n) / (1 + df)) + 1``;
- rows: L2-normalised (a document with no kept term is a zero row), float64, in a
  ``scipy.sparse.csr_matrix`` of shape (documents, terms), terms in sorted order.

:data:`STOP_WORDS` is this project's own short list of English function words, removed from
English titles and ledes before clustering, from the candidates for names and from the
"about:" words of a story folded into the fallback section (:func:`digest.topics.top_terms`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "OTHER_FUNCTION_WORDS",
    "STOP_WORDS",
    "function_words",
    "normalize_rows",
    "script_of",
    "tfidf",
    "tfidf_rows",
    "tokenize",
]

_TOKENS = {2: re.compile(r"(?u)\b\w\w+\b"), 3: re.compile(r"(?u)\b\w\w\w+\b")}

#: English function words: articles and determiners, pronouns, prepositions, conjunctions,
#: auxiliary and modal verbs, the commonest adverbs and quantifiers, indefinite pronouns and
#: the number words to ten. They say nothing about which event a report is about; batches
#: of 100 or more documents also drop any term in more than a quarter of them
#: (:mod:`digest.cluster`), this list serves the small ones.
STOP_WORDS: frozenset[str] = frozenset(
    """
    a an the this that these those such each every either neither any some no none all both
    another other others own same

    i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves one ones
    who whom whose which what whatever whoever whichever

    about above across after against along among amongst around at before behind below
    beneath beside besides between beyond by down during except for from in inside into
    near of off on onto out outside over past since through throughout till to toward
    towards under underneath until up upon via with within without per

    and or but nor so yet if then than because though although unless whether while whereas
    as once also too either

    am is are was were be been being have has had having do does did doing done will would
    shall should can could may might must ought

    not very only just even still already again ever never always often sometimes soon now
    here there where when why how else almost quite rather perhaps indeed thus hence
    therefore however otherwise meanwhile moreover furthermore anyway instead

    more most less least much many few several enough lot lots former latter

    anybody anyone anything anywhere everybody everyone everything everywhere nobody nothing
    nowhere somebody someone something somewhere

    two three four five six seven eight nine ten
    """.split()
)

#: The commonest function words (two letters or more, as :func:`tokenize` keeps them) of the
#: other languages written in Latin script that the captured feeds hold, from grammar alone:
#: articles, prepositions and their contractions, conjunctions, pronouns and the commonest
#: auxiliaries, leaving out those English writes as words of its own ("war", "son", "mit",
#: "los"; German "die" stays, the commonest article). Used to tell a text's language
#: (:func:`function_words`), not as a full list.
OTHER_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "pt": frozenset(
        """de da do das dos em na no nas nos ao aos pela pelo pelas pelos para com sem por
        um uma uns umas os as que se não mais mas ou como foi são é está ser sua seu suas
        seus entre sobre após até também já ele ela eles elas este esta isso""".split()
    ),
    "de": frozenset(
        """der die das dem des ein eine einen einem einer eines und oder aber für von vom zu
        zum zur im in an am auf aus bei nach über unter vor durch gegen ohne um ist sind
        wird werden wurde haben nicht auch sich es sie er wie als noch nur dass bis""".split()
    ),
    "es": frozenset(
        """el la las del al un una unos unas en de por para sobre entre tras que se no más
        pero como es fue está ser su sus lo le les ya también""".split()
    ),
    "fr": frozenset(
        """le la les des du de au aux un une et ou mais en dans sur sous par avec sans que
        qui ne est sont été être sa ses leur leurs il elle ils elles ce cette aussi""".split()
    ),
}


def function_words(tokens: Sequence[str]) -> frozenset[str]:
    """The function words to leave out of a text's ``tokens`` (lower-cased, as
    :func:`tokenize` gives them): :data:`STOP_WORDS`, or the words of the language of
    :data:`OTHER_FUNCTION_WORDS` of which the text holds the most different words, when it
    holds at least three and more than of English ones (a Portuguese headline and lede hold
    a dozen; an English one naming "Lula da Silva" or "El País", one or two; no entry of the
    labelled windows, the demo window or GoogleNews is taken for another language). Pure."""
    language = other_language(tokens)
    return STOP_WORDS if language is None else OTHER_FUNCTION_WORDS[language]


def other_language(tokens: Sequence[str]) -> str | None:
    """The language of :data:`OTHER_FUNCTION_WORDS` (``"pt"``, ``"de"``, ``"es"``, ``"fr"``)
    a text's ``tokens`` (lower-cased, as :func:`tokenize` gives them) are written in, by the
    rule of :func:`function_words`; ``None`` for English or a text too short to tell. Pure."""
    distinct = set(tokens)
    english = len(distinct & STOP_WORDS)
    best, hits = "", 0
    for language, words in OTHER_FUNCTION_WORDS.items():
        found = len(distinct & words)
        if found > hits:
            best, hits = language, found
    return best if hits >= 3 and hits > english else None


def tokenize(text: str, *, min_chars: int = 2) -> list[str]:
    """The terms of ``text``: runs of ``min_chars`` (2 or 3) or more word characters of the
    lower-cased text, in order (scikit-learn's default ``token_pattern`` ``\\b\\w\\w+\\b``
    for 2, with ``lowercase=True``). Raises ``KeyError`` for another ``min_chars``."""
    return _TOKENS[min_chars].findall(text.lower())


def script_of(term: str) -> str:
    """The writing system of a term: the first word of the Unicode name of its first letter
    (``"LATIN"``, ``"ARABIC"``, ``"CJK"``, ``"CYRILLIC"``, ``"HANGUL"``, ...), or ``""`` for a
    term without a letter (digits). Pure."""
    for ch in term:
        if ch.isalpha():
            return _script_of_letter(ch)
    return ""


@lru_cache(maxsize=4096)
def _script_of_letter(ch: str) -> str:
    return unicodedata.name(ch, "").split(" ", 1)[0]


def tfidf_rows(
    docs: Sequence[Iterable[str]],
    *,
    min_df: int = 1,
    max_df: float = 1.0,
    sublinear_tf: bool = True,
    by_script: bool = False,
    own_words: Sequence[bool] | None = None,
) -> Any:
    """L2-normalised TF-IDF rows of ``docs`` (each an iterable of terms, see :func:`tokenize`)
    as a float64 ``scipy.sparse.csr_matrix`` of shape ``(len(docs), terms)``, terms sorted;
    ``None`` when no term is left (no documents, no terms, or none within the limits).

    ``min_df``: the fewest documents a term must be in (a count); ``max_df``: the largest
    fraction of the documents it may be in (0..1]; ``by_script``: that fraction is of the
    documents holding a term of the term's own script (:func:`script_of`; terms without a
    letter: of all), so the function words of a language few documents of the batch are
    written in go too; ``own_words`` (a flag per document): the terms of those documents
    under ``min_df`` are left out of the vocabulary but still count in their L2 norm, so a
    document most of whose words are its own is not made close to another by the few it
    shares (its row then has a norm under 1); ``sublinear_tf``: ``1 + ln(count)``
    instead of the count. The formulas are in the module docstring.
    """
    fitted = tfidf(
        docs,
        min_df=min_df,
        max_df=max_df,
        sublinear_tf=sublinear_tf,
        by_script=by_script,
        own_words=own_words,
    )
    return None if fitted is None else fitted[0]


def tfidf(
    docs: Sequence[Iterable[str]],
    *,
    min_df: int = 1,
    max_df: float = 1.0,
    sublinear_tf: bool = True,
    by_script: bool = False,
    own_words: Sequence[bool] | None = None,
) -> tuple[Any, list[str]] | None:
    """:func:`tfidf_rows` and its terms: ``(rows, terms)`` where column ``j`` of ``rows`` is
    ``terms[j]`` (sorted, as scikit-learn's ``get_feature_names_out``); ``None`` when no
    term is left."""
    from scipy.sparse import csr_matrix

    counts = [Counter(doc) for doc in docs]
    n = len(counts)
    df: Counter[str] = Counter()
    for c in counts:
        df.update(c.keys())
    high = max_df * n
    if by_script and max_df < 1.0:
        # a language of a few documents in a batch of another has its own function words
        # ("کے", "的"): a term is compared with the documents that write in its script
        script = {t: script_of(t) for t in df}
        holders: Counter[str] = Counter()
        scripts = set(script.values()) - {""}
        if len(scripts) == 1:  # one script (an English batch): the documents with a letter
            (only,) = scripts
            holders[only] = sum(1 for c in counts if any(script[t] for t in c))
        else:
            for c in counts:
                holders.update({script[t] for t in c} - {""})
        terms = sorted(
            t
            for t, k in df.items()
            if min_df <= k <= (max_df * holders[script[t]] if script[t] else high)
        )
    else:
        terms = sorted(t for t, k in df.items() if min_df <= k <= high)
    if not terms:
        return None
    column = {t: j for j, t in enumerate(terms)}
    idf = np.log((1.0 + n) / (1.0 + np.array([df[t] for t in terms], dtype=np.float64))) + 1.0
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices: list[int] = []
    tf: list[int] = []
    for i, c in enumerate(counts):
        row = sorted((column[t], k) for t, k in c.items() if t in column)
        indices.extend(j for j, _ in row)
        tf.extend(k for _, k in row)
        indptr[i + 1] = len(indices)
    cols = np.array(indices, dtype=np.int64)
    data = np.array(tf, dtype=np.float64)
    if sublinear_tf:
        data = 1.0 + np.log(data)
    data *= idf[cols]
    matrix = csr_matrix((data, cols, indptr), shape=(n, len(terms)))
    if own_words is None or not any(own_words):
        return normalize_rows(matrix), terms
    # the terms under min_df (the document's own words) still count in its norm
    own = np.zeros(n)
    for i, c in enumerate(counts):
        if own_words[i]:
            for t, k in c.items():
                if df[t] < min_df:
                    weight = (1.0 + np.log(k) if sublinear_tf else k) * (
                        np.log((1.0 + n) / (1.0 + df[t])) + 1.0
                    )
                    own[i] += weight * weight
    kept = np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel()
    norms = np.sqrt(kept + own)
    norms[norms == 0.0] = 1.0
    matrix.data /= np.repeat(norms, np.diff(matrix.indptr))
    return matrix, terms


def normalize_rows(matrix: Any) -> Any:
    """``matrix`` (a scipy sparse matrix, returned as CSR, or a 2-D ndarray) with every row
    scaled to unit L2 norm; zero rows stay zero. What ``sklearn.preprocessing.normalize``
    does with its defaults."""
    if isinstance(matrix, np.ndarray):
        norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
        norms[norms == 0.0] = 1.0
        return matrix / norms[:, None]
    csr = matrix.tocsr(copy=True)
    if csr.dtype.kind != "f":
        csr = csr.astype(np.float64)
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1), dtype=np.float64).ravel())
    norms[norms == 0.0] = 1.0
    csr.data /= np.repeat(norms, np.diff(csr.indptr)).astype(csr.dtype, copy=False)
    return csr

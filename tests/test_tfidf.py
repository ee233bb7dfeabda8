"""digest.tfidf gives the cosines scikit-learn's TfidfVectorizer gave with the settings
clustering used (issue 14: clustering no longer imports scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from digest.cluster import _STOPWORD_MIN_DOCS, _document, _MAX_DF, dedupe
from digest.similarity import names_of
from digest.tfidf import STOP_WORDS, normalize_rows, script_of, tfidf, tfidf_rows, tokenize
from digest.types import Entry
from tests.conftest import REAL_FEEDS
from tests.realfeed_window import window_entries


@pytest.fixture(scope="module")
def real() -> list[Entry]:
    """The demo window's entries of the real feeds, deduplicated (about 190)."""
    return dedupe(window_entries(REAL_FEEDS))


def _cosines(rows: object) -> np.ndarray:
    return (rows @ rows.T).toarray()  # type: ignore[operator, attr-defined]


def _sklearn_text(docs: list[str]) -> object:
    """What digest.cluster._vectors computed before (scikit-learn, its settings)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(docs)
    return TfidfVectorizer(
        lowercase=True,
        token_pattern=r"(?u)\b\w\w+\b",
        sublinear_tf=True,
        min_df=2 if n >= _STOPWORD_MIN_DOCS else 1,
        max_df=_MAX_DF if n >= _STOPWORD_MIN_DOCS else 1.0,
        dtype=np.float64,
    ).fit_transform(docs)


@pytest.mark.parametrize("size", [None, 40])  # the whole window (df rules on), a small batch
def test_text_rows_give_sklearns_cosines_on_real_entries(
    real: list[Entry], size: int | None
) -> None:
    docs = [_document(e) for e in real[:size]]
    assert (len(docs) >= _STOPWORD_MIN_DOCS) == (size is None)
    n = len(docs)
    ours = tfidf_rows(
        [tokenize(d) for d in docs],
        min_df=2 if n >= _STOPWORD_MIN_DOCS else 1,
        max_df=_MAX_DF if n >= _STOPWORD_MIN_DOCS else 1.0,
    )
    theirs = _sklearn_text(docs)
    assert ours.shape == theirs.shape  # the same vocabulary size
    assert np.abs(_cosines(ours) - _cosines(theirs)).max() < 1e-6
    assert np.abs(sp.linalg.norm(ours, axis=1) - sp.linalg.norm(theirs, axis=1)).max() < 1e-9


def test_name_rows_give_sklearns_cosines_on_real_entries(real: list[Entry]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    bags = names_of(real)
    ours = tfidf_rows(bags, sublinear_tf=True).astype(np.float32)
    theirs = TfidfVectorizer(analyzer=lambda bag: bag, sublinear_tf=True).fit_transform(bags)
    assert np.abs(_cosines(ours) - _cosines(theirs.astype(np.float32))).max() < 1e-6


def test_normalize_rows_is_sklearns_normalize() -> None:
    from sklearn.preprocessing import normalize

    rng = np.random.default_rng(14)
    dense = rng.random((6, 5))
    dense[2] = 0.0  # a zero row stays zero
    sparse = sp.csr_matrix(np.where(dense > 0.5, dense, 0.0))
    assert np.allclose(normalize_rows(dense), normalize(dense), atol=1e-12)
    assert np.allclose(normalize_rows(sparse).toarray(), normalize(sparse).toarray(), atol=1e-12)
    assert sp.issparse(normalize_rows(sparse)) and sparse.nnz == normalize_rows(sparse).nnz


def test_no_term_left_is_none_and_empty_documents_are_zero_rows() -> None:
    assert tfidf_rows([]) is None
    assert tfidf_rows([[], []]) is None
    assert tfidf_rows([["solo"], ["other"]], min_df=2) is None  # no term in two documents
    rows = tfidf_rows([["storm", "coast"], [], ["storm"]])
    assert rows.shape == (3, 2) and rows[1].nnz == 0
    assert np.allclose(sp.linalg.norm(rows, axis=1), [1.0, 0.0, 1.0])


def test_stop_words_are_lower_case_english_function_words() -> None:
    assert {"the", "and", "of", "would", "however"} <= STOP_WORDS
    assert all(w == w.lower() and w.isalpha() for w in STOP_WORDS)
    assert not {"fire", "bill", "found", "back", "top"} & STOP_WORDS  # news words stay


def test_terms_and_tokens_are_sklearns_for_top_terms(real: list[Entry]) -> None:
    """What digest.topics.top_terms reads: three-letter tokens and the sorted vocabulary."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [f"{e.title} {e.summary_text}" for e in real]
    vectorizer = TfidfVectorizer(token_pattern=r"(?u)\b\w\w\w+\b", sublinear_tf=True, max_df=0.2)
    theirs = vectorizer.fit_transform(docs)
    fitted = tfidf([tokenize(d, min_chars=3) for d in docs], sublinear_tf=True, max_df=0.2)
    assert fitted is not None
    ours, terms = fitted
    assert terms == list(vectorizer.get_feature_names_out())
    assert np.abs((ours - theirs).toarray()).max() < 1e-9
    analyse = vectorizer.build_analyzer()
    assert all(tokenize(d, min_chars=3) == analyse(d) for d in docs)


def test_function_words_of_a_few_documents_script_go_by_their_own_share() -> None:
    """In a batch of 100 English documents and 8 Urdu ones, "کے" is in every Urdu document
    but in 7 % of the batch: compared with the documents of its script it is a function
    word and goes; "ترکی", in two Urdu documents, stays; English terms are unchanged."""
    docs = [["talks", f"word{i % 40}", "geneva" if i < 20 else "peru"] for i in range(100)]
    docs += [["کے", "ترکی" if k < 2 else f"لفظ{k}"] for k in range(8)]
    _, by_batch = tfidf(docs, min_df=2, max_df=0.25)  # type: ignore[misc]
    _, by_script = tfidf(docs, min_df=2, max_df=0.25, by_script=True)  # type: ignore[misc]
    assert "کے" in by_batch and "کے" not in by_script
    assert "ترکی" in by_script and "talks" not in by_script and "geneva" in by_script
    assert [t for t in by_batch if t != "کے"] == by_script
    assert script_of("ترکی") == "ARABIC" and script_of("総理") == "CJK" and script_of("42") == ""


def test_own_words_count_in_the_norm_of_the_documents_flagged() -> None:
    """Two documents sharing one word of four: with their own words dropped (min_df 2) the
    rows are that word alone (cosine 1); flagged, the dropped words still weigh in the norm."""
    docs = [["shared", "alpha", "beta", "gamma"], ["shared", "delta", "epsilon", "zeta"]]
    plain = tfidf_rows(docs, min_df=2)
    own = tfidf_rows(docs, min_df=2, own_words=[True, True])
    assert plain is not None and own is not None
    assert (plain @ plain.T).toarray()[0, 1] == pytest.approx(1.0)
    own_weight = math.log(3 / 2) + 1  # smooth idf of a word in one of two documents; "shared": 1
    assert (own @ own.T).toarray()[0, 1] == pytest.approx(1 / (1 + 3 * own_weight**2))
    half = tfidf_rows(docs, min_df=2, own_words=[True, False])
    assert (half @ half.T).toarray()[0, 1] == pytest.approx(1 / math.sqrt(1 + 3 * own_weight**2))


def test_function_words_are_those_of_the_texts_language() -> None:
    """A Portuguese or German text's own function words, English ones for English text,
    and an English text naming "Lula da Silva" or "El País" stays English."""
    from digest.tfidf import OTHER_FUNCTION_WORDS, function_words

    def words(text: str) -> frozenset[str]:
        return function_words(tokenize(text))

    assert words("Incêndio destrói armazém na zona industrial da cidade. Os bombeiros "
                 "levaram várias horas para controlar as chamas") is OTHER_FUNCTION_WORDS["pt"]
    assert words("Die Entwickler versprechen kürzere Zeiten und eine einfachere Syntax "
                 "für große Projekte") is OTHER_FUNCTION_WORDS["de"]
    assert words("Brazil's Lula da Silva meets El País editors in the capital of the "
                 "country") is STOP_WORDS
    assert words("syria peace talk step war") is STOP_WORDS

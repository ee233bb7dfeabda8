"""Entries that are not news: newsletters, roundups, quizzes, service pages, archive items,
podcast episodes, programme videos. Pure decisions; the pipeline leaves such entries out
before clustering and ``digest build --explain`` lists them with the rule that matched.

Rules, checked in this order (the first that matches gives the reason):

1. **archive** (dates): the entry was published more than :data:`ARCHIVE_DAYS` days before it
   was first seen, or the date in its link's path (``/2019/01/31/``) is that much older than
   its publication; old-style obituary headlines of a feed's archive series
   (``"Fania Fénelon, 74; Memoirs …"``, ``"… Is Dead"``); and, in a batch
   (:func:`split_noise`), an obituary of the same feed published within
   :data:`ARCHIVE_BURST` of such an archive item: a feed that republishes its archive does so
   in a burst, and a modern headline ("Millvina Dean, … Dies at 97") does not say so itself.
2. **podcast** (the item itself): it carries an audio file (:data:`digest.types.AUDIO_FLAG`,
   set by the parser from an ``audio/*`` enclosure or attachment: what makes a feed item a
   podcast episode), or its title or teaser calls it an episode of a show (``"Podcast: …"``,
   ``"Episode 12"``, ``"Folge 12"``, a teaser opening ``"Die c't-uplink Show: …"``).
3. **roundup / newsletter** (words a reader can check): the title or link names a
   newsletter, brief, key-events list, "what to know" page or photo round-up (``Up First``,
   ``World Brief``, ``List of key events``, ``/newsletter/``, ``Wednesday's top photos``),
   in English, Portuguese, Spanish, German or French (a series "in 60 seconds" named at the
   head of the title, ``"Despertar em 60 segundos: …"``; ``Resumo do dia``, ``Resumen de la
   semana``, ``Wochenrückblick``, ``Die Woche: …``, ``Bilder der Woche``, ``L'essentiel du
   jour``, ``Revue de presse``);
   a live blog whose headline lists several developments (``"A joins B; C, D deals go
   through: transfer deadline day – live!"``; a live blog of one match is that match's
   story); a standing explainer (``"…: the key questions answered"``, kind ``service``);
   a title that strings two stories together (``"X has died. And, Y"``), a lead image the
   outlet named for a newsletter (the NYT's ``…-theworld-promo…`` for The World; not an
   edition that is one interview), or a teaser summary (at most :data:`TEASER_CHARS`
   characters) that lists several stories the same way.
   In a batch, a title that opens with the name of a series the same feed calls a
   newsletter elsewhere in it (``"The War Room: Is …"`` beside ``"The War Room newsletter:
   …"``) is an edition of that newsletter.
4. **programme** (feed categories): a feed category names a podcast, show or quiz (``TV
   Shows``, ``Podcast``, ``Quiz``); or it names a newsletter, brief or roundup (``World
   Brief``, ``Late-night TV roundup``) and the edition covers many topics: the places its
   title, lede and place tags name span :data:`MANY_REGIONS` regions or more (``"A Hectic
   Day for U.S. Negotiators"``: Iran, Russia, Ukraine, the US). An edition on one story
   (``"A New Chapter for Bangladesh"``, the late-night hosts on the State of the Union) is
   that story's news.
5. **quiz / service** (title patterns): quizzes, crosswords, horoscopes, "subscribe",
   "contact us", corrections, notes about the site itself ("Comments Are
   Back On", "Programming note"), advertisements by their label (``[Sponsor]``,
   ``Anzeige:``, a publisher's ``heise-Angebot:``), the outlet's job advertisements ("The
   Economist is hiring an Asia correspondent", "We're hiring"), a photo gallery filed under
   an arts or lifestyle desk (``/artanddesign/gallery/``: a photographer's project, not an
   event).
6. **archive** (in a batch): an entry published more than :data:`ARCHIVE_DAYS` days before
   every other entry of its feed in the batch: a feed lists its latest items, and one a
   year older than all the rest is a page the outlet keeps pinned (an offer, a service
   page), not news of the window.

A teaser summary that opens a weekly roundup ("This week, we discuss …") is a roundup too.

News videos and opinion pieces are *not* noise: they belong to the story they are about.
The patterns are module constants so that a user can read (and a test can show) exactly what
each one catches; :func:`classify` never raises on odd input.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.types import AUDIO_FLAG, Entry

__all__ = [
    "ARCHIVE_BURST",
    "ARCHIVE_DAYS",
    "MANY_REGIONS",
    "TEASER_CHARS",
    "NoiseVerdict",
    "classify",
    "split_noise",
]

#: An entry published this many days before it was first seen is an archive item.
ARCHIVE_DAYS = 365

#: An obituary published this close to an archive item of the same feed is one too.
ARCHIVE_BURST = timedelta(minutes=10)

# An obituary: "… Dies at 97", "… Is Dead", "Name, 74; …", or the feed's own label for one.
_OBITUARY_TITLE = re.compile(
    r"\b(?:dies|died|dead) (?:at|aged) \d{1,3}\b|\bIs Dead$|^[^,;]{3,60}, \d{2,3}; ", re.IGNORECASE
)
_OBITUARY_CATEGORY = re.compile(r"\bobituar(?:y|ies)\b", re.IGNORECASE)

_URL_DATE = re.compile(r"/((?:19|20)\d\d)/(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/")

# Headlines of a feed's archive series: "Name, 74; What They Did" and "Name, Role, Is Dead".
_OLD_OBITUARY = re.compile(r"^[^,;]{3,60}, \d{2,3}; |,\s[^,]+,\s+Is Dead$|^\S.{2,80} Is Dead$")

_ROUNDUP_TITLE = re.compile(
    r"\b(up first|world brief|morning brief(?:ing)?|evening brief(?:ing)?|daily brief(?:ing)?"
    r"|newsletter|list of key events|key events(?: from| of)? day|what to know (?:today|this week)"
    r"|the week in (?:review|pictures)|news (?:in brief|roundup|round-up)|headlines of the day"
    # a photo round-up: "Wednesday's top photos", "photos of the day", "the year in pictures"
    r"|(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|today|the day|the week|this week)['’]s"
    r" (?:top|best) (?:photos|pictures|images)|(?:photos?|pictures) of the (?:day|week)"
    r"|the (?:day|year) in (?:pictures|photos)"
    # the same in other languages. A round-up "in 60 seconds" by the series name opening the
    # title ("Despertar em 60 segundos: …"; not "Bilhetes esgotados em 60 segundos", news)
    r"|^[^:]{0,40}?\b(?:in|em|en) \d{1,3} (?:seconds|segundos|secondes|sekunden)(?=\s*:)"
    # Portuguese and Spanish summaries: "Resumo do dia", "Resumen de la semana", "Resumo: …"
    r"|resum[oe]n? (?:do dia|da semana|das not[ií]cias|del d[ií]a|de la semana|de noticias"
    r"|semanal|di[aá]rio|informativo)|^resum(?:o|en)(?=\s*:)"
    r"|(?:as|las) not[ií]cias del? d[ií]a|(?:fotos|imagens|im[aá]genes) d[oe]l? d[ií]a"
    r"|(?:a|la) semana em (?:fotos|imagens)|la semana en (?:fotos|im[aá]genes)"
    # German: "Wochenrückblick", "Die Woche im Rückblick", "Die Woche: …", "Bilder der Woche"
    r"|(?:wochen|tages|monats|jahres)r[üu]ckblick|die woche (?:im r[üu]ckblick|in bildern)"
    r"|^die woche(?=\s*:)|bilder (?:der woche|des tages)"
    r"|nachrichten (?:in k[üu]rze|im [üu]berblick)"
    # French: "L'essentiel du jour", "L'essentiel : …", "Revue de presse", "Photos du jour"
    r"|^l['’]essentiel(?=\s*:)|l['’]essentiel (?:du jour|de la semaine|de l['’]actu)"
    r"|revue de presse|la semaine en (?:images|photos)|photos? du jour)\b",
    re.IGNORECASE,
)
# A live blog ("… – live!", "… live updates") whose headline lists several developments
# (";"-separated: "Moura joins Spurs; Giroud, … deals go through: transfer deadline day –
# live!"); a live blog of one match or one speech is that event's story.
_LIVE_BLOG = re.compile(r"(?:[–—-]\s*live!?|\blive(?: updates| blog)?:?)\s*$", re.IGNORECASE)
# A standing explainer the feed republishes as it updates it: "…: the key questions answered".
_EXPLAINER_TITLE = re.compile(r"\bkey questions answered\b|\bwhat we know so far\b", re.IGNORECASE)
# "Jesse Jackson has died. And, U.S. and Iran set for talks": two stories in one title.
_TWO_STORIES = re.compile(r"[.?!]\s+(?:And|Plus|Also),\s+\S", re.UNICODE)
#: A summary this short (characters) is a teaser; one that strings stories together with
#: "And," / "Plus," lists several headlines. Longer summaries are article text, where a
#: sentence may start so.
TEASER_CHARS = 400
# "This week, we discuss …", "This week on the show …": a weekly roundup's teaser.
_WEEKLY_TEASER = re.compile(
    r"^this week,?\s+(?:we|on the (?:show|podcast|blog|newsletter))\b", re.IGNORECASE
)
_ROUNDUP_URL = re.compile(
    r"(newsletter|/briefing/|/brief/|list-of-key-events|/live-updates-summary|/quiz/)",
    re.IGNORECASE,
)
# The outlet's own name for a newsletter edition in its lead image's file path: the NYT
# names The World's promo images "17int-theworld-promo-…"; "…/newsletter/…", "-briefing-".
_NEWSLETTER_IMAGE = re.compile(r"(?<![a-z])(theworld|newsletters?|briefing)(?![a-z])", re.IGNORECASE)
# An edition given over to one interview is one story (the labels call it news).
_INTERVIEW_IMAGE = re.compile(r"(?<![a-z])interview(?![a-z])", re.IGNORECASE)
_PROGRAMME_CATEGORY = re.compile(
    r"\b(podcasts?|tv shows?|programmes?|quiz(?:zes)?)\b", re.IGNORECASE
)
# A newsletter's category: an edition of it is a roundup only when it covers many topics.
_NEWSLETTER_CATEGORY = re.compile(r"\b(brief|briefing|newsletter|roundup)\b", re.IGNORECASE)
#: A newsletter edition whose title, lede and place tags name places in this many regions
#: of the gazetteer (``americas``, ``europe``, ...) or more lists several stories; the
#: number :data:`digest.topics.MANY_REGIONS` also takes for a story of the whole world.
MANY_REGIONS = 3
# "<Series> newsletter: …": the feed names a newsletter series; "<Series>: …" is one edition.
_SERIES_TITLE = re.compile(r"^\s*(.{3,40}?)\s+newsletter\s*:", re.IGNORECASE)
# The outlet's own job advertisement: "The Economist is hiring an Asia correspondent",
# "We're hiring"; not "Amazon is hiring 100,000 workers" (a number: news of a company).
_JOB_TITLE = re.compile(
    r"\b(?:is|are) (?:now )?hiring (?:an?|for)\b|\bwe['’]re hiring\b|\bwe are hiring\b"
    r"|\bjob (?:opening|vacancy|advert(?:isement)?)\b|\bvacanc(?:y|ies) at\b",
    re.IGNORECASE,
)
# A photo gallery of an arts or lifestyle desk ("/artanddesign/gallery/…"): a photographer's
# project. A gallery of the news or science desk ("/science/gallery/…-blood-moon") is news.
_FEATURE_GALLERY = re.compile(
    r"/(?:artanddesign|lifeandstyle|fashion|travel|food)/gallery/", re.IGNORECASE
)
# An advertisement by its label: "[Sponsor] …", "Sponsored: …", "Anzeige: …", and a
# publisher's own offer, "heise-Angebot: …" (German "offer").
_ADVERT_TITLE = re.compile(
    r"^\s*(?:\[sponsor(?:ed)?\]|sponsor(?:ed)?\s*:|advertisement\s*:|paid (?:post|content)\s*:"
    r"|partner content\s*:|anzeige\s*:|[\w.]+-angebot\s*:)",
    re.IGNORECASE,
)
_SERVICE_TITLE = re.compile(
    # "quiz" also closing a compound: heise's "c't-Retroquiz", a "Newsquiz"
    r"(quiz\b|\bcrossword\b|\bhoroscopes?\b|^\s*(?:subscribe|sign up|contact us|about us|"
    r"privacy policy|terms of (?:use|service)|corrections?(?: and clarifications)?)\b|"
    r"^\s*(?:programming note|a note to (?:our )?readers"
    r"|(?:some )?site (?:news|updates?|goings-on))\b|"
    r"^\s*comments (?:are|is) (?:back|closed|open|off)\b)",
    re.IGNORECASE,
)


# A podcast episode named in its title: "The Ezra Klein Podcast", "Episode 12", German
# "Folge 12", Portuguese and Spanish "Episódio 12" / "Episodio 12".
_EPISODE_TITLE = re.compile(
    r"\bpodcast\b|\b(?:episode|folge|epis[oó]dio|épisode) \d+\b", re.IGNORECASE
)
# A teaser that opens by naming the show it is an episode of: "Die c't-uplink Show: Dieses
# Mal mit …", "The Vergecast podcast: …" (at most four words before "Podcast" or a
# capitalised "Show", a show's own name: not "Late-night show: …").
_SHOW_TEASER = re.compile(
    r"^\s*(?:(?:die|der|das|the)\s+)?(?:[\w'’.&-]+[\s-]){1,4}?"
    r"(?:(?-i:Show|Sendung)|podcast|videocast)\s*:",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NoiseVerdict:
    """Why an entry is not news: ``kind`` is ``archive``, ``roundup``, ``podcast``,
    ``programme``, ``quiz`` or ``service``; ``reason`` is the human-readable rule that matched."""

    kind: str
    reason: str


def _url_date(url: str | None) -> datetime | None:
    match = _URL_DATE.search(url or "")
    if not match:
        return None
    try:
        return datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _image_path(entry: Entry) -> str:
    """The path of the entry's lead image URL (``""`` without one)."""
    from urllib.parse import urlsplit

    url = entry.image.url if entry.image is not None else ""
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _regions(entry: Entry) -> set[str]:
    """The gazetteer regions of the places named in the entry's title and lede and of its
    feed categories that are exactly a place name (the ``world`` region and terms such as
    ``NATO`` left out)."""
    from digest.places import locate
    from digest.topics import lead_text

    mentions = list(locate(entry.title or "", lead_text(entry.summary_text or "")))
    for category in entry.categories:
        mentions.extend(
            m for m in locate("", category)
            if m.place.name.casefold() == category.strip().casefold()
        )
    return {m.place.region for m in mentions if not m.place.term and m.place.region != "world"}


def classify(entry: Entry) -> NoiseVerdict | None:
    """The :class:`NoiseVerdict` for ``entry``, or ``None`` when it reads as news.

    Uses the title, link, teaser (``summary_text``), lead image, feed categories, ``flags``
    (:data:`~digest.types.AUDIO_FLAG`), ``published`` and ``first_seen`` (UTC); rules in
    the order of the module docstring. Pure; never raises.
    """
    title = (entry.title or "").strip()
    archive = timedelta(days=ARCHIVE_DAYS)
    if entry.published and entry.first_seen and entry.first_seen - entry.published > archive:
        return NoiseVerdict(
            "archive", f"published {entry.published:%Y-%m-%d}, first seen {entry.first_seen:%Y-%m-%d}"
        )
    linked = _url_date(entry.url)
    when = entry.published or entry.first_seen
    if linked and when and when.replace(tzinfo=None) - linked > archive:
        return NoiseVerdict("archive", f"link dated {linked:%Y-%m-%d}, published {when:%Y-%m-%d}")
    if _OLD_OBITUARY.search(title):
        return NoiseVerdict("archive", "archive obituary headline (\"Name, 74; …\", \"… Is Dead\")")
    teaser = (entry.summary_text or "").strip()
    podcast = _podcast(entry, title, teaser)
    if podcast is not None:
        return podcast
    match = _ROUNDUP_TITLE.search(title) or _ROUNDUP_URL.search(entry.url or "")
    if match:
        return NoiseVerdict("roundup", f"newsletter or roundup: {match.group(0).strip()!r}")
    if _LIVE_BLOG.search(title) and ";" in title:
        return NoiseVerdict("roundup", "live blog of several stories (\"…; …: … – live\")")
    found_explainer = _EXPLAINER_TITLE.search(title)
    if found_explainer:
        return NoiseVerdict("service", f"standing explainer: {found_explainer.group(0)!r}")
    image = _image_path(entry)
    found_image = _NEWSLETTER_IMAGE.search(image)
    if found_image and not _INTERVIEW_IMAGE.search(image):
        return NoiseVerdict(
            "roundup", f"newsletter edition: its image is named {found_image.group(0)!r}"
        )
    if _TWO_STORIES.search(title):
        return NoiseVerdict("roundup", "title strings two stories together (\". And, …\")")
    if len(teaser) <= TEASER_CHARS and _TWO_STORIES.search(teaser):
        return NoiseVerdict("roundup", "summary lists several stories (\". And, …\")")
    if len(teaser) <= TEASER_CHARS and _WEEKLY_TEASER.match(teaser):
        return NoiseVerdict("roundup", f"weekly roundup teaser: {teaser[:40]!r}")
    for category in entry.categories:
        if _PROGRAMME_CATEGORY.search(category):
            return NoiseVerdict("programme", f"feed category {category!r}")
    newsletter = next((c for c in entry.categories if _NEWSLETTER_CATEGORY.search(c)), None)
    if newsletter is not None:
        regions = _regions(entry)
        if len(regions) >= MANY_REGIONS:
            return NoiseVerdict(
                "programme",
                f"feed category {newsletter!r}, an edition on {len(regions)} regions"
                f" ({', '.join(sorted(regions))})",
            )
    advert = _ADVERT_TITLE.search(title)
    if advert:
        return NoiseVerdict("service", f"advertisement: {advert.group(0).strip()!r}")
    job = _JOB_TITLE.search(title)
    if job:
        return NoiseVerdict("service", f"job advertisement: {job.group(0).strip()!r}")
    gallery = _FEATURE_GALLERY.search(entry.url or "")
    if gallery:
        return NoiseVerdict("service", f"feature gallery: {gallery.group(0)!r}")
    found = _SERVICE_TITLE.search(title)
    if found:
        word = found.group(0).strip().lower()
        kind = "quiz" if word in ("quiz", "crossword") else "service"
        return NoiseVerdict(kind, f"title: {found.group(0).strip()!r}")
    return None


def _podcast(entry: Entry, title: str, teaser: str) -> NoiseVerdict | None:
    """The ``podcast`` verdict for an episode (module docstring, rule 2): an audio file
    attached, a title naming a podcast or an episode, a teaser (at most
    :data:`TEASER_CHARS` characters) opening with the show's name; else ``None``."""
    if AUDIO_FLAG in entry.flags:
        return NoiseVerdict("podcast", "podcast episode: the item carries an audio file")
    named = _EPISODE_TITLE.search(title)
    if named:
        return NoiseVerdict("podcast", f"podcast episode: title {named.group(0).strip()!r}")
    show = _SHOW_TEASER.match(teaser) if len(teaser) <= TEASER_CHARS else None
    if show:
        return NoiseVerdict("podcast", f"episode of a show: teaser {show.group(0).strip()!r}")
    return None


def is_obituary(entry: Entry) -> bool:
    """True when the title reads as an obituary's or a feed category labels it one."""
    return bool(_OBITUARY_TITLE.search((entry.title or "").strip())) or any(
        _OBITUARY_CATEGORY.search(c) for c in entry.categories
    )


def _archive_burst(
    entry: Entry, archive: Sequence[Entry]
) -> NoiseVerdict | None:
    """The verdict for an obituary published within :data:`ARCHIVE_BURST` of an archive item
    of its own feed (``archive``), or ``None``."""
    if entry.published is None or not is_obituary(entry):
        return None
    for old in archive:
        if old.source == entry.source and old.published is not None and old is not entry:
            gap = abs(entry.published - old.published)
            if gap <= ARCHIVE_BURST:
                minutes = int(gap.total_seconds() // 60)
                return NoiseVerdict(
                    "archive",
                    f"obituary published {minutes} min from the archive item {old.title[:50]!r}",
                )
    return None


def _series_edition(entry: Entry, series: Mapping[str, set[str]]) -> NoiseVerdict | None:
    """The verdict for a title that opens with ``"<Series>:"``, a series the entry's feed
    calls a newsletter (``series``: source -> casefolded series names), or ``None``."""
    head, colon, _ = (entry.title or "").partition(":")
    name = " ".join(head.split()).casefold()
    if colon and name in series.get(entry.source, ()):
        return NoiseVerdict("roundup", f"an edition of the feed's newsletter {head.strip()!r}")
    return None


def _pinned(entry: Entry, oldest: Sequence[datetime]) -> NoiseVerdict | None:
    """The verdict for an entry published more than :data:`ARCHIVE_DAYS` before every other
    entry of its feed (``oldest``: the feed's two earliest publication times), or ``None``."""
    if entry.published is None or len(oldest) < 2 or entry.published != oldest[0]:
        return None
    if oldest[1] - oldest[0] > timedelta(days=ARCHIVE_DAYS):
        return NoiseVerdict(
            "archive",
            f"published {oldest[0]:%Y-%m-%d}, over a year before the feed's other items"
            f" (the next {oldest[1]:%Y-%m-%d})",
        )
    return None


def _batch_verdicts(items: Sequence[Entry], verdicts: list[NoiseVerdict | None]) -> None:
    """Fill in ``verdicts`` (in place, one per item) with the rules that need the whole
    batch: newsletter series and pinned items (module docstring, rules 3 and 6)."""
    series: dict[str, set[str]] = defaultdict(set)
    times: dict[str, list[datetime]] = defaultdict(list)
    for entry in items:
        match = _SERIES_TITLE.match(entry.title or "")
        if match:
            series[entry.source].add(" ".join(match.group(1).split()).casefold())
        if entry.published is not None:
            times[entry.source].append(entry.published)
    oldest = {source: heapq.nsmallest(2, own) for source, own in times.items()}
    for i, entry in enumerate(items):
        if verdicts[i] is None and series:
            verdicts[i] = _series_edition(entry, series)
        if verdicts[i] is None:
            verdicts[i] = _pinned(entry, oldest.get(entry.source, ()))


def split_noise(entries: Iterable[Entry]) -> tuple[list[Entry], list[tuple[Entry, NoiseVerdict]]]:
    """Split ``entries`` into (news, noise with its verdict), keeping input order: each entry
    by :func:`classify`, then the rules that read the batch: a feed's newsletter series
    (rule 3), items pinned a year before the rest of their feed (rule 6) and obituaries
    published in a burst with an archive item of their feed (rule 1). Pure."""
    items = list(entries)
    verdicts = [classify(entry) for entry in items]
    _batch_verdicts(items, verdicts)
    archive = [
        e for e, v in zip(items, verdicts, strict=True) if v is not None and v.kind == "archive"
    ]
    if archive:
        verdicts = [v or _archive_burst(e, archive) for e, v in zip(items, verdicts, strict=True)]
    news: list[Entry] = []
    noise: list[tuple[Entry, NoiseVerdict]] = []
    for entry, verdict in zip(items, verdicts, strict=True):
        if verdict is None:
            news.append(entry)
        else:
            noise.append((entry, verdict))
    return news, noise

"""Load and validate ``config.yaml``: every setting is declared once, here, with its type and default.

Rules (see README, "Configuration"):

- Unknown keys and bad values are errors; :class:`~digest.exceptions.ConfigError` names the
  key path (``lists[0].schedule.timezone``) and what was expected.
- Relative paths (source ``path``, ``subscribers``, ``database.url`` for SQLite, the outbox
  folder, template overrides) resolve against the folder of the config file.
- Secrets never live in the file: the SMTP password and the SendGrid API key come from the
  environment variables the config names (``password_env``, ``api_key_env``).
- ``$DIGEST_DATABASE_URL``, when set and not empty, replaces ``database.url`` (the
  environment wins; a relative SQLite path in it resolves against the current directory), so
  a PostgreSQL URL with its password need not be written in the file.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    ValidationError,
    field_validator,
    model_validator,
)

from digest.exceptions import ConfigError
from digest.ledger_state import RetryPolicy
from digest.overrides import Override
from digest.schedule import validate_cron


class DuplicateKeyError(yaml.YAMLError):
    """A YAML mapping names the same key twice (YAML 1.2 requires keys to be unique; PyYAML
    would keep the later value silently). ``key`` is the key, ``line`` the 1-based line of
    its second appearance and ``first_line`` that of its first."""

    def __init__(self, key: object, line: int, first_line: int) -> None:
        super().__init__(f"line {line}: duplicate key {key!r} (first at line {first_line})")
        self.key, self.line, self.first_line = key, line, first_line


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _unique_keys(base: Any) -> Any:
    """``base`` (a PyYAML safe loader class) refusing a mapping that names a key twice with
    :class:`DuplicateKeyError`; keys brought in by a merge (``<<: *anchor``) may still be
    overridden, as YAML merge keys intend."""

    def construct_mapping(self: Any, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base loader says so
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, line, first)
                seen[key] = line
        return base.construct_mapping(self, node, deep=deep)

    return type(f"Unique{base.__name__}", (base,), {"construct_mapping": construct_mapping})


#: The pure-Python safe loader, refusing duplicate keys.
_PY_YAML_LOADER = _unique_keys(yaml.SafeLoader)

#: libyaml's safe loader when PyYAML was built with it (the same documents, ten times faster:
#: a cron no-op reads config.yaml, and every worker a config of 5,000 sources), else the
#: pure-Python one; both refuse duplicate keys (:class:`DuplicateKeyError`).
_YAML_LOADER = _unique_keys(yaml.CSafeLoader) if hasattr(yaml, "CSafeLoader") else _PY_YAML_LOADER

#: Upper bounds of durations (a year; a day for leases and timer periods): a larger value is
#: a typo, and past them date arithmetic overflows (``timedelta``/``datetime`` raise).
YEAR_HOURS = 366 * 24
YEAR_MINUTES = YEAR_HOURS * 60
YEAR_SECONDS = YEAR_MINUTES * 60
DAY_SECONDS = 24 * 3600

NAME_RE = r"^[a-z0-9][a-z0-9_-]*$"
Name = Annotated[str, Field(pattern=NAME_RE, max_length=64)]


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"an IANA timezone name such as 'Europe/Berlin', got {value!r}") from exc
    return value


TimeZone = Annotated[str, AfterValidator(_check_timezone)]


def _check_cron(value: str) -> str:
    try:
        validate_cron(value)
    except ValueError as exc:
        raise ValueError(f"a five-field crontab expression such as '0 7 * * *': {exc}") from exc
    return value


Cron = Annotated[str, AfterValidator(_check_cron)]


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_mailbox(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"a bare address such as 'unsubscribe@example.org': {exc}") from None


class SiteConfig(Strict):
    """Who sends, and where the public pages live. ``postal_address`` goes in the footer of
    every email (bulk-mail rules); ``contact_url`` goes in the User-Agent of every fetch, so
    publishers can reach whoever polls them. ``unsubscribe_mailto`` is the mailbox that
    unsubscribes by mail (read by the SendGrid Inbound Parse webhook or
    ``digest unsubscribe-mail``); without it (or a list's own) no ``mailto:`` is advertised."""

    name: str = "digest"
    base_url: HttpUrl = HttpUrl("http://127.0.0.1:8025")
    postal_address: str = Field(min_length=10)
    contact_url: HttpUrl | None = None
    unsubscribe_mailto: Annotated[str, AfterValidator(_check_mailbox)] | None = None

    @property
    def base(self) -> str:
        """``base_url`` without a trailing slash."""
        return str(self.base_url).rstrip("/")


DATABASE_URL_ENV = "DIGEST_DATABASE_URL"

#: The database URL schemes digest can open (SQLAlchemy's ``dialect+driver``): SQLite
#: (Python's own driver) and PostgreSQL through psycopg 3, the driver digest installs
#: (``postgresql://`` and ``postgres://`` mean ``postgresql+psycopg://``).
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_+.-]*)://")


def database_url_problem(url: str) -> str | None:
    """What is wrong with the database URL ``url`` for digest, or None when its scheme
    (SQLAlchemy's ``dialect+driver``, compared case-insensitively) is one of
    :data:`DATABASE_SCHEMES`. The text names the scheme, never the rest of the URL (it may
    hold a password)."""
    supported = "supported: sqlite:///PATH, postgresql://USER@HOST:PORT/NAME (psycopg 3)"
    match = _URL_SCHEME.match(url.strip())
    if match is None:
        return f"not a database URL (no scheme://); {supported}"
    scheme = match.group(1).lower()
    if scheme not in DATABASE_SCHEMES:
        return f"unsupported database URL scheme {scheme!r}; {supported}"
    return None


def _check_database_url(url: str) -> str:
    problem = database_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


class DatabaseConfig(Strict):
    """Where the store lives: an SQLAlchemy URL (``sqlite:///path`` or
    ``postgresql+psycopg://user:password@host:5432/name``). SQLite paths resolve against the
    config file; ``$DIGEST_DATABASE_URL`` replaces ``url`` when set.

    The pool settings apply to PostgreSQL only (SQLite opens a connection per thread): each
    ``digest`` process keeps up to ``pool_size`` connections open and opens up to
    ``max_overflow`` more under load, waiting at most ``pool_timeout`` seconds for one; every
    connection is checked before use (``pool_pre_ping``), so a restarted server is not an error.
    """

    url: Annotated[str, AfterValidator(_check_database_url)] = "sqlite:///var/digest.db"
    pool_size: int = Field(default=5, ge=1, le=1000)
    max_overflow: int = Field(default=5, ge=0, le=1000)
    pool_timeout: float = Field(default=30.0, gt=0, le=DAY_SECONDS)


class FetchConfig(Strict):
    """How feeds are fetched. Times in seconds, sizes in bytes; ``max_per_host`` is how many
    fetches may run at once against one host (politeness towards publishers)."""

    connect_timeout: float = Field(default=10.0, gt=0, le=DAY_SECONDS)
    read_timeout: float = Field(default=20.0, gt=0, le=DAY_SECONDS)
    deadline: float = Field(default=60.0, gt=0, le=DAY_SECONDS)
    max_bytes: int = Field(default=10_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_per_host: int = Field(default=2, ge=1, le=16)
    poll_interval_minutes: int = Field(default=30, ge=1, le=YEAR_MINUTES)
    allow_private_addresses: bool = False
    user_agent: str = "digest/0.1"


class SourceConfig(Strict):
    """One feed. ``url`` is the publisher's feed URL; ``path``, when set, is read instead.

    ``weight`` scales the source's stories in ranking (1.0 is neutral); ``topic`` is the
    section its entries default to; ``language`` is a BCP 47 tag used when the feed has none.
    """

    name: Name
    title: str
    url: HttpUrl | None = None
    path: Path | None = None
    home: HttpUrl | None = None
    weight: float = Field(default=1.0, gt=0, le=10)
    topic: Name | None = None
    language: str | None = None
    poll_interval_minutes: int | None = Field(default=None, ge=1, le=YEAR_MINUTES)
    enabled: bool = True

    @model_validator(mode="after")
    def _url_or_path(self) -> SourceConfig:
        if self.url is None and self.path is None:
            raise ValueError("a source needs 'url' (http/https) or 'path' (a local file)")
        return self

    @property
    def location(self) -> str:
        """What fetching reads: the local path when set, else the URL."""
        return str(self.path) if self.path is not None else str(self.url)


class TopicConfig(Strict):
    """A section: ``keywords`` match whole words case-insensitively (a keyword in capitals,
    such as ``US``, case-sensitively), ``patterns`` are regular expressions (case-insensitive), ``sources`` are source names whose entries default here,
    ``categories`` match the feeds' own category labels, ``places`` are gazetteer regions
    (``americas``, ``europe``, ``asia``, ``middle-east``, ``africa``, ``world``: see
    ``digest.places``) whose place names send a story here when it happens there."""

    name: Name
    title: str
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    sources: tuple[Name, ...] = ()
    categories: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    max_stories: int = Field(default=8, ge=1)

    @field_validator("places")
    @classmethod
    def _known_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from digest.places import regions

        unknown = sorted(set(value) - set(regions()))
        if unknown:
            raise ValueError(f"unknown region(s) {unknown}; known: {sorted(regions())}")
        return value

    @field_validator("patterns")
    @classmethod
    def _compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return value


class ScheduleConfig(Strict):
    """When a list is built and sent: a crontab expression in an IANA timezone."""

    cron: Cron = "0 7 * * *"
    timezone: TimeZone = "UTC"


class FallbackConfig(Strict):
    """The section for stories no topic rule claims."""

    name: Name = "more"
    title: str = "More news"


def template_problem(template: str) -> str | None:
    """Why ``template`` (a list's ``subject``) is not a valid Jinja2 template -- ``"a Jinja2
    template: <message> (line N)"`` -- or ``None`` when it parses.

    Not a validator of :func:`load_config`: parsing needs Jinja2, whose import costs more
    than the rest of a cron no-op's config load (issue 14). ``digest config check``
    (:func:`digest.render.subject_problems`) and every build (:func:`digest.pipeline.build`, before any
    work) check it instead, so a run with nothing to build never imports Jinja2."""
    import jinja2

    try:
        jinja2.Environment().parse(template)
    except jinja2.TemplateSyntaxError as exc:
        return f"a Jinja2 template: {exc.message} (line {exc.lineno})"
    return None


def transport_problems(config: Config, environ: Mapping[str, str]) -> list[str]:
    """What a list's transport needs from the environment ``environ`` (an ``os.environ``-like
    mapping) and does not find: the SendGrid API key in ``delivery.sendgrid.api_key_env``,
    one line per variable naming the lists that send through SendGrid; empty otherwise. (An
    SMTP relay may take mail without a password: ``password_env`` unset is no problem.)"""
    lists = [lst.name for lst in config.lists if config.transport_for(lst) == "sendgrid"]
    env = config.delivery.sendgrid.api_key_env
    if not lists or environ.get(env, "").strip():
        return []
    return [
        f"transport sendgrid (list {', '.join(lists)}): the API key is read from ${env}, "
        "which is not set; the deliveries would fail"
    ]


def _check_sender(value: str) -> str:
    from email.utils import parseaddr

    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("one line, such as 'World news <news@example.org>'")
    address = parseaddr(value)[1]
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain:
        raise ValueError(f"a sender address such as 'World news <news@example.org>', got {value!r}")
    return value


Sender = Annotated[str, AfterValidator(_check_sender)]


class ListConfig(Strict):
    """A subscriber list and the edition it receives.

    ``topics`` are topic names in the order their sections appear; ``subject`` is a Jinja2
    template (see README); ``max_age_hours`` bounds the window back from the edition time when
    there is no previous edition; ``min_section_stories`` folds thinner sections into the
    fallback; ``subscribers`` is the CSV file imported before each delivery;
    ``require_approval`` holds each edition until an editor approves it in ``digest web``;
    ``unsubscribe_mailto`` overrides ``site.unsubscribe_mailto`` for this list.
    ``fallback`` is the section for stories no topic claims (none: they are left out).
    """

    name: Name
    title: str
    description: str = ""
    schedule: ScheduleConfig = ScheduleConfig()
    topics: tuple[Name, ...] = ()
    fallback: FallbackConfig | None = None
    max_stories: int = Field(default=30, ge=1, le=200)
    min_section_stories: int = Field(default=1, ge=1)
    max_age_hours: float = Field(default=36.0, gt=0, le=YEAR_HOURS)
    sender: Sender
    reply_to: Sender | None = None
    subject: str = "{{ list.title }}: {{ top_story.lead.title }}"  # digest.render.subject_problem checks it
    subscribers: Path | None = None
    sources: tuple[Name, ...] = ()
    transport: Literal["outbox", "smtp", "sendgrid"] | None = None
    templates: Path | None = None
    require_approval: bool = False
    unsubscribe_mailto: Annotated[str, AfterValidator(_check_mailbox)] | None = None
    send_at: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    overrides: tuple[Override, ...] = ()
    topic_model: Path | None = None
    half_life_hours: float = Field(default=12.0, gt=0, le=YEAR_HOURS)
    story_window_hours: float = Field(default=48.0, gt=0, le=YEAR_HOURS)

    @property
    def section_names(self) -> tuple[str, ...]:
        """The list's section names: its topics, then its fallback's when it has one."""
        return (*self.topics, *((self.fallback.name,) if self.fallback else ()))


class SchedulerSettings(Strict):
    """The ``scheduler:`` section: how ``digest schedule`` runs. Times in seconds unless named.

    ``misfire_grace_seconds``: how late a send may still go out after its scheduled time
    (a restart within the grace sends once; later, the edition is skipped with a warning).
    ``lease_seconds``: how long the scheduler lease holds without renewal;
    ``renew_seconds``: how often the holder renews it (at most half of ``lease_seconds``);
    ``wait_seconds``: how often a process that does not hold it tries again.
    ``tick_seconds``: how often the service wakes to poll due sources and deliver due rows.
    ``max_backoff_minutes``: the longest wait between polls of a failing source.
    ``silent_factor``/``silent_min_hours``: a source is *silent* when its last new entry is
    older than ``silent_factor`` times its usual gap between entries, and at least
    ``silent_min_hours``.
    """

    misfire_grace_seconds: int = Field(default=3600, ge=1, le=YEAR_SECONDS)
    lease_seconds: float = Field(default=90, gt=0, le=DAY_SECONDS)
    renew_seconds: float = Field(default=30, gt=0, le=DAY_SECONDS)
    wait_seconds: float = Field(default=30, gt=0, le=DAY_SECONDS)
    tick_seconds: float = Field(default=60, gt=0, le=DAY_SECONDS)
    max_backoff_minutes: int = Field(default=1440, ge=1, le=YEAR_MINUTES)
    silent_factor: float = Field(default=4.0, gt=1, le=1000)
    silent_min_hours: float = Field(default=24.0, gt=0, le=YEAR_HOURS)

    @model_validator(mode="after")
    def _renew_in_time(self) -> SchedulerSettings:
        if self.renew_seconds * 2 > self.lease_seconds:
            raise ValueError("renew_seconds must be at most half of lease_seconds")
        return self

    @property
    def grace(self) -> timedelta:
        """``misfire_grace_seconds`` as a timedelta."""
        return timedelta(seconds=self.misfire_grace_seconds)


class SmtpConfig(Strict):
    """SMTP relay. The password is read from the environment variable ``password_env``."""

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str = "DIGEST_SMTP_PASSWORD"
    timeout: float = Field(default=30.0, gt=0, le=DAY_SECONDS)


class SendgridConfig(Strict):
    """SendGrid v3 Mail Send. The API key is read from the environment variable ``api_key_env``."""

    api_key_env: str = "SENDGRID_API_KEY"
    host: HttpUrl = HttpUrl("https://api.sendgrid.com")
    sandbox: bool = False
    timeout: float = Field(default=30.0, gt=0, le=DAY_SECONDS)
    categories: tuple[str, ...] = ("digest",)
    # the Event Webhook's verification key (base64 DER, as SendGrid shows it), from the env
    webhook_key_env: str = "SENDGRID_WEBHOOK_PUBLIC_KEY"
    # the secret path part of the Inbound Parse URL (/webhooks/inbound/<secret>), from the env
    inbound_secret_env: str = "SENDGRID_INBOUND_SECRET"


class DeliveryConfig(Strict):
    """How editions leave: the default transport and each transport's settings."""

    transport: Literal["outbox", "smtp", "sendgrid"] = "outbox"
    outbox_dir: Path = Path("outbox")
    batch_size: int = Field(default=100, ge=1, le=1000)
    max_consecutive_failures: int = Field(default=5, ge=1)
    resend_unknown: bool = False
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_delay_seconds: float = Field(default=300, ge=0, le=YEAR_SECONDS)
    max_retry_delay_seconds: float = Field(default=7200, ge=0, le=YEAR_SECONDS)
    #: how long a worker's claimed batch is its own; a dead worker's rows come back after it
    lease_seconds: float = Field(default=300, ge=1, le=DAY_SECONDS)
    smtp: SmtpConfig = SmtpConfig()
    sendgrid: SendgridConfig = SendgridConfig()

    def retry_policy(self) -> RetryPolicy:
        """The back-off for transient refusals: ``retry_delay_seconds`` doubling per attempt
        up to ``max_retry_delay_seconds``; ``failed`` after ``max_attempts``."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay=timedelta(seconds=self.retry_delay_seconds),
            max_delay=timedelta(seconds=max(self.max_retry_delay_seconds, self.retry_delay_seconds)),
        )


class WebConfig(Strict):
    """The ``web:`` section: limits of ``digest web``. Sizes in bytes.

    ``max_body_bytes`` bounds every request body (413 past it, checked before reading);
    ``max_webhook_bytes`` the SendGrid Event Webhook's (its batches of events);
    ``login_attempts`` failed editor logins per client address within
    ``login_window_minutes`` before further attempts are refused (429) until the window
    has passed.
    """

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_webhook_bytes: int = Field(default=5_242_880, ge=1024)
    login_attempts: int = Field(default=5, ge=1)
    login_window_minutes: float = Field(default=15.0, gt=0, le=YEAR_MINUTES)


class Config(Strict):
    """The whole configuration. ``root`` is the folder relative paths resolved against."""

    site: SiteConfig
    database: DatabaseConfig = DatabaseConfig()
    fetch: FetchConfig = FetchConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    sources: tuple[SourceConfig, ...] = Field(min_length=1)
    topics: tuple[TopicConfig, ...] = ()
    lists: tuple[ListConfig, ...] = Field(min_length=1)
    scheduler: SchedulerSettings = SchedulerSettings()
    web: WebConfig = WebConfig()
    root: Path = Path(".")

    @model_validator(mode="after")
    def _references(self) -> Config:
        for kind, items in (("sources", self.sources), ("topics", self.topics), ("lists", self.lists)):
            counts = Counter(item.name for item in items)
            dupes = sorted(n for n, k in counts.items() if k > 1)
            if dupes:
                raise ValueError(f"{kind}: duplicate name(s) {', '.join(dupes)}")
        topic_names = {t.name for t in self.topics}
        source_names = {s.name for s in self.sources}
        for i, src in enumerate(self.sources):
            if src.topic is not None and src.topic not in topic_names:
                raise ValueError(f"sources[{i}].topic: unknown topic {src.topic!r}")
        for i, topic in enumerate(self.topics):
            for name in topic.sources:
                if name not in source_names:
                    raise ValueError(f"topics[{i}].sources: unknown source {name!r}")
        for i, lst in enumerate(self.lists):
            for name in lst.topics:
                if name not in topic_names:
                    raise ValueError(f"lists[{i}].topics: unknown topic {name!r}")
            for name in lst.sources:
                if name not in source_names:
                    raise ValueError(f"lists[{i}].sources: unknown source {name!r}")
        return self

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``. Raises ``KeyError`` when there is none."""
        for src in self.sources:
            if src.name == name:
                return src
        raise KeyError(name)

    def topic(self, name: str) -> TopicConfig:
        """The topic called ``name``. Raises ``KeyError`` when there is none."""
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    def list(self, name: str) -> ListConfig:
        """The list called ``name``. Raises ``KeyError`` when there is none."""
        for lst in self.lists:
            if lst.name == name:
                return lst
        raise KeyError(name)

    def list_sources(self, lst: ListConfig) -> tuple[SourceConfig, ...]:
        """The enabled sources a list draws from: its ``sources``, or every source."""
        wanted = set(lst.sources) if lst.sources else None
        return tuple(s for s in self.sources if s.enabled and (wanted is None or s.name in wanted))

    def transport_for(self, lst: ListConfig) -> str:
        """The transport a list sends through: its own, else ``delivery.transport``."""
        return lst.transport or self.delivery.transport

    def unsubscribe_mailto(self, lst: ListConfig) -> str | None:
        """The unsubscribe mailbox of a list: its own, else the site's, else ``None``."""
        return lst.unsubscribe_mailto or self.site.unsubscribe_mailto

    def secret(self, env_name: str) -> str | None:
        """The value of environment variable ``env_name``, or ``None`` when unset or empty."""
        return os.environ.get(env_name) or None


def _is_echo(err: Any) -> bool:
    """Whether a pydantic error is only the echo of its items' errors: a ``too_short`` on a
    list (``lists: Tuple should have at least 1 item after validation``) given enough items,
    some of which failed; the items' own errors say what is wrong."""
    if err["type"] != "too_short":
        return False
    given, least = err.get("input"), (err.get("ctx") or {}).get("min_length")
    return isinstance(given, (list, tuple)) and isinstance(least, int) and len(given) >= least


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type annotation holds (``X``, ``X | None``,
    ``tuple[X, ...]``, ``Annotated[X, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _did_you_mean(loc: tuple[int | str, ...]) -> str:
    """``" (did you mean 'max_stories'?)"`` for the unknown key at the end of ``loc`` (a
    pydantic error location under :class:`Config`) when a key of the same section is spelled
    nearly alike (:func:`difflib.get_close_matches`, its default cutoff 0.6); else ``""``."""
    import difflib

    models: list[type[BaseModel]] = [Config]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        models = [m for model in models if part in model.model_fields for m in _models_in(model.model_fields[part].annotation)]
    keys = {name for model in models for name in model.model_fields if name != "root"}
    close = difflib.get_close_matches(str(loc[-1]), sorted(keys), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        if _is_echo(err):
            continue
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(err["loc"])
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        # model-level checks name their own key path ("lists[0].topics: ...")
        lines.append(f"{path}: {msg}" if path else msg)
    return "\n".join(lines)


def _resolve(root: Path, path: Path | None) -> Path | None:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else (root / path).resolve()


def _resolve_db_url(root: Path, url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        rel = url[len(prefix) :]
        return prefix + str((root / rel).resolve())
    return url


def parse_config(data: Any, root: Path) -> Config:
    """Validate ``data`` (the YAML document as Python values) and resolve paths against ``root``.

    Raises :class:`ConfigError` listing every problem as ``key.path: what was expected``.
    """
    if not isinstance(data, dict):
        raise ConfigError("(top level): expected a mapping of sections (site, sources, lists, ...)")
    if "root" in data:
        raise ConfigError("root: unknown key")
    try:
        cfg = Config.model_validate({**data, "root": root})
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None
    root = root.resolve()
    sources = tuple(s.model_copy(update={"path": _resolve(root, s.path)}) for s in cfg.sources)
    lists = tuple(
        lst.model_copy(
            update={
                "subscribers": _resolve(root, lst.subscribers),
                "templates": _resolve(root, lst.templates),
                "topic_model": _resolve(root, lst.topic_model),
            }
        )
        for lst in cfg.lists
    )
    delivery = cfg.delivery.model_copy(update={"outbox_dir": _resolve(root, cfg.delivery.outbox_dir)})
    database = cfg.database.model_copy(update={"url": _resolve_db_url(root, cfg.database.url)})
    fetch = cfg.fetch
    if cfg.site.contact_url is not None and "+" not in fetch.user_agent:
        # an identifiable User-Agent: publishers can see who fetches and how to reach them
        fetch = fetch.model_copy(update={"user_agent": f"{fetch.user_agent} (+{cfg.site.contact_url})"})
    return cfg.model_copy(
        update={
            "sources": sources,
            "lists": lists,
            "delivery": delivery,
            "database": database,
            "fetch": fetch,
            "root": root,
        }
    )


def with_env_database(cfg: Config, env: Any, cwd: Path) -> Config:
    """``cfg`` with ``database.url`` replaced by ``env["DIGEST_DATABASE_URL"]`` when that is
    set and not empty (a relative SQLite path resolving against ``cwd``); else ``cfg``.
    Raises :class:`ConfigError` when that URL's scheme is not supported
    (:func:`database_url_problem`)."""
    url = (env.get(DATABASE_URL_ENV) or "").strip()
    if not url:
        return cfg
    problem = database_url_problem(url)
    if problem is not None:
        raise ConfigError(f"${DATABASE_URL_ENV}: {problem}")
    database = cfg.database.model_copy(update={"url": _resolve_db_url(cwd, url)})
    return cfg.model_copy(update={"database": database})


def yaml_error_message(path: Path, exc: yaml.YAMLError) -> str:
    """One line for a YAML syntax error in the config file ``path``: the file, the line and
    column (1-based) where PyYAML found the problem, what it found and what it was reading,
    e.g. ``config.yaml, line 3, column 4: not valid YAML: did not find expected '-'
    indicator (while parsing a block collection from line 2)``. PyYAML's own text names
    the file ``"<unicode string>"``; an error without a position is given as PyYAML says it."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"{path}: not valid YAML: {exc}"
    mark = exc.problem_mark
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}"
    context = ""
    if exc.context:
        start = f" from line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
        context = f" ({exc.context}{start})"
    return f"{where}: not valid YAML: {exc.problem}{context}"


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and resolve the YAML config at ``path``; ``$DIGEST_DATABASE_URL``
    replaces ``database.url`` when set (:func:`with_env_database`).

    Raises :class:`ConfigError` when the file is missing, is not YAML, or is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except DuplicateKeyError as exc:
        raise ConfigError(
            f"{path}, line {exc.line}: duplicate key {exc.key!r} (first at line "
            f"{exc.first_line}); a key may appear once in a mapping"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_message(path, exc)) from None
    return with_env_database(parse_config(data, path.resolve().parent), os.environ, Path.cwd())

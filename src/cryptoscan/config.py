"""Typed settings: one YAML file plus ``CRYPTOSCAN_*`` environment variables, validated once at start.

Why this shape: every layer reads a frozen, typed section instead of poking at dicts, and a wrong key or
type is reported once, before any socket opens, as one line that names the file (or the environment
variable) and the key path. Unknown keys are errors, so a typo never silently falls back to a default.

Precedence, highest first: environment (``CRYPTOSCAN_DATA_AGGREGATOR__CHUNK_SIZE=100``; lists and maps as
JSON), then the YAML file, then the defaults below. Secrets are ``SecretStr``: they print as ``**********``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from cryptoscan.config_scanner import ScannerConfig

ENV_PREFIX = "CRYPTOSCAN_"
ENV_CONFIG_PATH = "CRYPTOSCAN_CONFIG"  # where the YAML file is, when --config is not given
DEFAULT_CONFIG_PATH = Path("config.yaml")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ConfigError(Exception):
    """A configuration problem, already phrased as the one line a person should read."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExchangeConfig(_Section):
    url: str | None = None  # None: live Binance; else one base URL serving every path (e.g. `cryptoscan sim`)
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// base URL, e.g. http://127.0.0.1:8765")
        return value.rstrip("/") if value is not None else None


class DataAggregatorConfig(_Section):
    use_websockets: bool = True
    max_reconnections: int = Field(10, ge=0)
    ping_interval: float = Field(20, gt=0)  # seconds
    min_volume_24h: float = Field(1_000_000, ge=0)  # quote volume, USDT
    max_pairs: int = Field(600, gt=0)
    min_price_change: float = Field(0.0, ge=0)  # percent
    max_workers: int = Field(4, gt=0)
    chunk_size: int = Field(200, gt=0)  # streams per subscribe batch
    update_interval: float = Field(30, gt=0)  # seconds
    klines_buffer_size: int = Field(1000, gt=0)
    ticker_cache_duration: float = Field(5, ge=0)  # seconds


class BotConfig(_Section):
    analyze_all_usdt_pairs: bool = True
    trading_pairs: list[str] = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])

    @field_validator("trading_pairs")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        out = []
        for raw in value:
            symbol = raw.strip().upper()
            if not re.fullmatch(r"[A-Z0-9]{2,30}", symbol):
                raise ValueError(f"not a Binance symbol: {raw!r}")
            out.append(symbol)
        return out


class AlertsConfig(_Section):
    enabled: bool = False
    cooldown_s: float = Field(300, ge=0)  # at most one alert per pair per cooldown (an upgrade may break it)
    urls: list[SecretStr] = Field(default_factory=list)  # apprise URLs; they carry tokens
    hold_scans: int = Field(2, ge=1)  # scans a level must hold before it alerts ...
    candle_confirms: bool = True  # ... or fewer, when a candle closed while it held (at least two scans)
    digest_s: float = Field(120, ge=0)  # ALTA alerts gathered into one digest this often (0: sent at once)
    dashboard_url: str | None = None  # link base in messages (default: http://{dashboard.host}:{dashboard.port})
    rate_per_min: float = Field(20, ge=0)  # per channel (0: no limit)
    burst: int = Field(5, ge=1)
    retries: int = Field(3, ge=0)  # attempts after the first, with jittered backoff
    timeout_s: float = Field(30, gt=0)  # one delivery attempt
    queue_size: int = Field(100, ge=1)  # per channel; beyond it the oldest waiting message is dropped (recorded)


class RedisConfig(_Section):
    enabled: bool = False
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")  # may carry a password
    prefix: str = Field("websocket", min_length=1)
    max_pending: int = Field(100_000, gt=0)  # writes buffered while Redis is down; beyond: oldest dropped, counted
    flush_interval_ms: float = Field(2, ge=0)  # how long a write may wait to join a batch
    batch_max: int = Field(2_000, gt=0)  # commands per pipeline
    timeout_s: float = Field(2.0, gt=0)  # per pipeline; a hung server counts as down


class StoreConfig(_Section):
    enabled: bool = True  # closed klines, sampled tickers and scan results kept for backtests and research
    url: SecretStr = SecretStr("data/cryptoscan.duckdb")  # a DuckDB file, or postgresql://... (may carry a password)
    pg_schema: str = Field("cryptoscan", pattern=r"^[a-z_][a-z0-9_]*$")
    ticker_sample_s: float = Field(60, gt=0)  # at most one ticker row per pair this often
    flush_interval_s: float = Field(0.5, gt=0)
    batch_rows: int = Field(5000, gt=0)
    max_klines: int = Field(1_000_000, gt=0)  # closed klines buffered while the store is slow or down
    max_rows: int = Field(100_000, gt=0)  # other rows buffered; beyond either bound the oldest drop, counted


class DashboardConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: SecretStr | None = None
    lang: str = Field("en", pattern=r"^[a-z]{2}$")


class LoggingConfig(_Section):
    level: LogLevel = "INFO"
    json_output: bool = Field(False, alias="json")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


_yaml_path: ContextVar[Path | None] = ContextVar("cryptoscan_config_yaml", default=None)
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("cryptoscan_config_environ", default=None)


class _EnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping (tests, embedding) instead of ``os.environ``."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = _environ.get()
        return {k.lower(): v for k, v in (os.environ if env is None else env).items()}


class _YamlSource(YamlConfigSettingsSource):
    """The YAML source, with malformed files and non-mapping documents turned into ConfigError."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            with open(file_path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            raise ConfigError(f"{file_path}: {where}malformed YAML: {exc.problem or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file_path}: malformed YAML: {_one_line(str(exc))}") from None
        except OSError as exc:
            raise ConfigError(f"{file_path}: cannot read: {exc.strerror or exc}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file_path}: the top level must be a mapping of sections, not {type(data).__name__}")
        return data


class Settings(BaseSettings):
    """Every setting of cryptoscan. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    exchange: ExchangeConfig = Field(default_factory=ExchangeConfig)
    data_aggregator: DataAggregatorConfig = Field(default_factory=DataAggregatorConfig)
    bot: BotConfig = Field(default_factory=BotConfig)
    scanner: ScannerConfig = Field(default_factory=ScannerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _yaml_path.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        if path is not None:
            sources.append(_YamlSource(settings_cls, yaml_file=path))
        return tuple(sources)


def resolve_config_path(cli_path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> tuple[Path | None, bool]:
    """Which YAML file to read, and whether the user named it (a named file must exist)."""
    if cli_path is not None:
        return Path(cli_path), True
    if env.get(ENV_CONFIG_PATH):
        return Path(env[ENV_CONFIG_PATH]), True
    return (DEFAULT_CONFIG_PATH, False) if DEFAULT_CONFIG_PATH.is_file() else (None, False)


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings once. Raises ConfigError with a one-line message.

    ``path``: the YAML file (``--config``); None means ``$CRYPTOSCAN_CONFIG``, else ``./config.yaml`` if
    present, else defaults only. ``env``: the environment to read (default ``os.environ``).
    """
    environ = os.environ if env is None else env
    yaml_path, named = resolve_config_path(path, environ)
    if yaml_path is not None and named and not yaml_path.is_file():
        raise ConfigError(f"{yaml_path}: no such file")
    _check_env_names(environ)
    yaml_token = _yaml_path.set(yaml_path)
    env_token = _environ.set(environ)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, yaml_path, environ)) from None
    except SettingsError as exc:
        raise ConfigError(_describe_env_parse(exc, environ)) from None
    finally:
        _yaml_path.reset(yaml_token)
        _environ.reset(env_token)


def _check_env_names(env: Mapping[str, str]) -> None:
    """Reject ``CRYPTOSCAN_*`` variables that name no section: pydantic-settings would ignore them."""
    sections = set(Settings.model_fields)
    for name in env:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == ENV_CONFIG_PATH:
            continue
        section = upper[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if section not in sections:
            hint = _did_you_mean(section, sections)
            raise ConfigError(f"environment {name}: unknown section {section!r}{hint}")


def _describe(exc: ValidationError, yaml_path: Path | None, env: Mapping[str, str]) -> str:
    """One line for the first error (and how many more there are)."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    where = _source_of(loc, env) or (str(yaml_path) if yaml_path is not None else "defaults")
    key = _key_path(loc)
    if first["type"] == "extra_forbidden":
        siblings = _field_names(loc[:-1])
        message = f"unknown key{_did_you_mean(str(loc[-1]), siblings)}"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if not _is_secret(loc) and isinstance(first.get("input"), str | int | float | bool):
            shown = repr(first["input"])
            message += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {key}: {message}{more}" if key else f"{where}: {message}{more}"


def _describe_env_parse(exc: SettingsError, env: Mapping[str, str]) -> str:
    """pydantic-settings could not decode a JSON value from the environment: name the variable."""
    m = re.search(r'field "(\w+)"', str(exc))
    prefix = ENV_PREFIX + (m[1].upper() if m else "")
    names = [k for k in env if k.upper().startswith(prefix)]
    where = f"environment {names[0]}" if len(names) == 1 else "environment"
    return f"{where}: not valid JSON (lists and maps in the environment are JSON, e.g. '[\"BTCUSDT\"]')"


def _key_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _source_of(loc: tuple[Any, ...], env: Mapping[str, str]) -> str | None:
    """The environment variable that supplied this key, if any (longest match wins)."""
    upper = {k.upper(): k for k in env}
    names = [str(p) for p in loc if not isinstance(p, int)]
    for n in range(len(names), 0, -1):
        candidate = ENV_PREFIX + "__".join(names[:n]).upper()
        if candidate in upper:
            return f"environment {upper[candidate]}"
    deeper = sorted(v for k, v in upper.items() if k.startswith(ENV_PREFIX + "__".join(names).upper() + "__"))
    return f"environment {', '.join(deeper)}" if deeper and names else None


def _walk(loc: tuple[Any, ...]) -> Any:
    """The field info at ``loc`` (skipping list indexes), or None if the path leaves the models."""
    model: Any = Settings
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            aliases = {f.alias: f for f in (fields or {}).values() if f.alias}
            if part not in aliases:
                return None
            info = aliases[part]
        else:
            info = fields[part]
        model = info.annotation
    return info


def _field_names(loc: tuple[Any, ...]) -> set[str]:
    info = _walk(loc)
    model = Settings if not loc else (info.annotation if info is not None else None)
    fields = getattr(model, "model_fields", {})
    return {f.alias or name for name, f in fields.items()}


def _is_secret(loc: tuple[Any, ...]) -> bool:
    info = _walk(loc)
    return info is None or "SecretStr" in str(info.annotation)


def _did_you_mean(word: str, choices: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())

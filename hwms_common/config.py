"""Configuration parsing shared by the edge and the ledger: YAML in, a frozen pydantic
model out, every problem named by its key path; secrets read at use time from a file or
systemd's `$CREDENTIALS_DIRECTORY`, never from the YAML and never into a log line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ConfigError",
    "Model",
    "MqttConnection",
    "TlsConfig",
    "read_secret",
    "read_yaml",
    "validate",
]


class ConfigError(ValueError):
    """The configuration is invalid; the message names every problem by key path."""


class Model(BaseModel):
    """Every configuration section: unknown keys are errors, values do not change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_secret(file: Path | None, credential: str | None) -> str | None:
    """A secret from a file, or from systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=`)."""
    if file is not None:
        return file.read_text().strip()
    if credential is not None:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ConfigError(f"credential {credential!r}: $CREDENTIALS_DIRECTORY is not set")
        return (Path(directory) / credential).read_text().strip()
    return None


class TlsConfig(Model):
    ca_file: Path
    cert_file: Path | None = None  # client certificate (mutual TLS)
    key_file: Path | None = None


class MqttConnection(Model):
    """How to reach the broker: the same for every MQTT client of a process."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password_file: Path | None = None
    password_credential: str | None = None  # name under $CREDENTIALS_DIRECTORY
    tls: TlsConfig | None = None
    protocol: Literal["v5", "v311"] = "v5"  # v311 only for brokers without MQTT 5
    keepalive_s: int = Field(30, ge=1, le=3600)
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)

    def password(self) -> str | None:
        """Read the secret at use time; it is never part of the model's dump or repr."""
        return read_secret(self.password_file, self.password_credential)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after",) and not str(part).startswith(("function-", "model-")):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, source: str) -> M:
    """A configuration model from parsed YAML; every problem named by its key path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{_path(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        ]
        raise ConfigError(f"{source}: invalid configuration\n  " + "\n  ".join(lines)) from None


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None

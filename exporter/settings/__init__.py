"""Configuration: one YAML file, ``AGORA_EXPORTER_*`` variables and a secrets directory.

:func:`load_settings` is the only code that reads ``os.environ`` or a
configuration file; everything else receives a validated, frozen
:class:`Settings`. The YAML format is the public contract of DESIGN.md.

:class:`Settings` is a pydantic-settings ``BaseSettings``; its
``settings_customise_sources`` lists the sources below (modules yamlfile,
environment and secretsdir), which load_settings hands their inputs.

Where each value comes from, highest precedence first:

1. ``overrides``, a nested mapping passed by the CLI (``--demo`` supplies its
   simulator's URL, credentials, plan and apps this way);
2. environment variables ``AGORA_EXPORTER_<SECTION>__<KEY>``, e.g.
   ``AGORA_EXPORTER_AGORA__CUSTOMER_SECRET``, ``AGORA_EXPORTER_STATE_DIR``,
   ``AGORA_EXPORTER_EXPOSITION__MODE``. Names are case-insensitive; list items
   are addressed by index (``AGORA_EXPORTER_APPS__0__APPID``) and merge into
   the file's list, but a list is given either whole or by index, not both; a
   value for a list or mapping key starting with ``[`` or ``{`` is read as
   YAML/JSON (``AGORA_EXPORTER_APPS='[{...}]'``), and the list-valued keys
   ``product_types``, ``usage``, ``quality`` and ``uids`` also take a
   comma-separated string. Variables whose first part is
   not a top-level key (``AGORA_EXPORTER_SERVICE_HOST`` from a Kubernetes
   service named agora-exporter) are ignored and listed by
   :meth:`Settings.ignored_environment`; a wrong key inside a known section is
   an error;
3. the YAML file given with ``--config.file``;
4. files in the secrets directory (``secrets_dir`` from any of the above):
   ``customer_id`` and ``customer_secret``, or ``agora__customer_id`` and
   ``agora__customer_secret`` (these win when both exist); a trailing newline
   is stripped;
5. the defaults below.

So an environment variable overrides the file, and a secret written into the
YAML file beats the mounted secret file: keep credentials out of the YAML when
a secrets directory is used.

Errors come back as one :class:`ConfigError` listing every problem by its
dotted path (``apps[0].appid``, ``agora.plan``), where the value came from,
what was given and how to fix it. The customer ID and secret are never
echoed: not in errors, ``repr(settings)`` or ``settings.model_dump()``.
"""

from exporter.settings.base import ENV_PREFIX, SECRET_FILES, SECRET_KEYS, ConfigError
from exporter.settings.loader import load_settings
from exporter.settings.models import (
    AgoraSettings,
    AppSettings,
    CallsSettings,
    ChannelSettings,
    ExpositionSettings,
    InsightSettings,
    QuotaSettings,
    RealtimeSettings,
    Settings,
)

__all__ = [
    "ENV_PREFIX",
    "SECRET_FILES",
    "SECRET_KEYS",
    "AgoraSettings",
    "AppSettings",
    "CallsSettings",
    "ChannelSettings",
    "ConfigError",
    "ExpositionSettings",
    "InsightSettings",
    "QuotaSettings",
    "RealtimeSettings",
    "Settings",
    "load_settings",
]

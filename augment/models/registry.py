"""The one registry of generators: the four built-ins and the plugins of an entry-point group.

A generator defined outside this repository registers through the Python entry-point group
``augment.generators`` (docs/plugins.md): its package declares, in pyproject.toml,

    [project.entry-points."augment.generators"]
    mygen = "mypackage.models:MyGenerator"

and the class is a :class:`~augment.models.base.ConditionalGenerator` whose ``name`` is the entry
point's name and whose ``config_class`` is a dataclass, read from ``generators.<name>`` in
params.yaml with the built-ins' checks. Every name-keyed path of the project (``augment train``,
``augment sample``, ``SyntheticDataset(model=...)``, checkpoints, ``generators.methods``) looks
names up here.

Plugins are found on first need, not at import: a built-in name is answered without scanning the
installed distributions, so a stage that uses only the built-ins pays nothing for the mechanism.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from importlib import metadata

from augment.models.base import ConditionalGenerator
from augment.models.cfm import CFM
from augment.models.cgan import CGAN
from augment.models.cvae import CVAE
from augment.models.cvaegan import CVAEGAN
from augment.settings.sections import ConfigError, one_line

ENTRY_POINT_GROUP = "augment.generators"
BUILTINS: dict[str, type[ConditionalGenerator]] = {cls.name: cls for cls in (CVAE, CGAN, CVAEGAN, CFM)}

# A method's name is part of file names and of source names (``classic+<m>``, ``<m>-filtered``):
# lower-case letters, digits and underscores, starting with a letter; no "+" or "-".
NAME_RULE = re.compile(r"^[a-z][a-z0-9_]*$")
# names the pipeline already gives other things: the baseline and self-training sources, the
# filter and judge networks' files, the generators section's own keys
RESERVED = ("real", "classic", "pseudo", "filter", "judge", "methods", "plugins", "seed", "grid_every", "unlabelled")


# what the training loop reads of every generator's config (steps_per_epoch, ema and the Adam
# settings lr, beta1, beta2 are read where present)
CONFIG_FIELDS = ("epochs", "batch_size")


class PluginError(ConfigError):
    """A generator plugin that cannot be used (fails to import, or breaks the interface). A
    ConfigError: the CLI and the stages print it on one line and exit 2."""


def check_generator_class(name: str, cls: object, where: str) -> type[ConditionalGenerator]:
    """``cls`` as a usable generator class registered as ``name``, or a PluginError naming ``where``
    (the entry point) and the first broken rule of the interface (docs/plugins.md)."""
    if not (isinstance(cls, type) and issubclass(cls, ConditionalGenerator)):
        raise PluginError(f"{where}: expected a subclass of augment.models.ConditionalGenerator, got {cls!r}")
    if not NAME_RULE.match(name) or name in RESERVED:
        raise PluginError(
            f"{where}: {name!r} cannot name a generator: use lower-case letters, digits and '_', "
            f"starting with a letter, and none of {', '.join(RESERVED)}"
        )
    if name in BUILTINS:
        raise PluginError(f"{where}: {name!r} is a built-in generator; give the plugin another name")
    if getattr(cls, "name", None) != name:
        raise PluginError(f"{where}: the class's name is {getattr(cls, 'name', None)!r}, the entry point's {name!r}")
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise PluginError(f"{where}: config_class must be a dataclass, got {config_class!r}")
    for attribute in ("loss_names", "sampler"):
        if not hasattr(cls, attribute):
            raise PluginError(f"{where}: the class lacks {attribute!r} (see docs/plugins.md)")
    fields = {f.name for f in dataclasses.fields(config_class)}
    missing = [k for k in CONFIG_FIELDS if k not in fields]
    if missing:
        raise PluginError(f"{where}: its config_class lacks {', '.join(missing)} (the training loop reads them)")
    sampling_class = cls.sampling_class  # the base class's NoSampling unless the plugin sets its own
    if not (isinstance(sampling_class, type) and dataclasses.is_dataclass(sampling_class)):
        raise PluginError(f"{where}: sampling_class must be a dataclass, got {sampling_class!r}")
    both = sorted(fields & {f.name for f in dataclasses.fields(sampling_class)})
    if both:
        raise PluginError(
            f"{where}: {', '.join(both)} in both config_class and sampling_class: a setting is either "
            "trained with (generators.<name>) or drawn with (sample.generators.<name>)"
        )
    return cls


def discover_plugins() -> dict[str, type[ConditionalGenerator]]:
    """Every installed generator plugin, by name: loads the group's entry points, checks each."""
    plugins: dict[str, type[ConditionalGenerator]] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"generator plugin {entry.name!r} ({entry.value}, entry-point group {ENTRY_POINT_GROUP})"
        if entry.name in plugins:
            raise PluginError(f"{where}: two installed distributions register {entry.name!r}")
        try:
            cls = entry.load()
        except Exception as err:  # noqa: BLE001 - any import error of someone else's package
            raise PluginError(f"{where}: cannot be imported: {type(err).__name__}: {one_line(err)}") from None
        plugins[entry.name] = check_generator_class(entry.name, cls, where)
    return plugins


class Registry(Mapping[str, type[ConditionalGenerator]]):
    """name -> generator class: the built-ins, then the plugins, found on the first question a
    built-in cannot answer (a name that is not built in, or iterating over all)."""

    def __init__(self) -> None:
        self._plugins: dict[str, type[ConditionalGenerator]] | None = None

    def plugins(self) -> dict[str, type[ConditionalGenerator]]:
        if self._plugins is None:
            self._plugins = discover_plugins()
        return self._plugins

    def reload(self) -> None:
        """Forget the plugins found so far (after installing one in a running process)."""
        self._plugins = None

    def __getitem__(self, name: str) -> type[ConditionalGenerator]:
        if name in BUILTINS:
            return BUILTINS[name]
        return self.plugins()[name]

    def __contains__(self, name: object) -> bool:
        return name in BUILTINS or (isinstance(name, str) and name in self.plugins())

    def __iter__(self) -> Iterator[str]:
        yield from BUILTINS
        yield from self.plugins()

    def __len__(self) -> int:
        return len(BUILTINS) + len(self.plugins())

    def unknown(self, name: object, what: str = "generator") -> ConfigError:
        """The one-line error for a name no installed generator has: the nearest name, the
        built-ins, the plugins (or how to install one)."""
        near = difflib.get_close_matches(str(name), list(self), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        plugins = ", ".join(self.plugins()) or f"none installed (entry-point group {ENTRY_POINT_GROUP})"
        return ConfigError(f"unknown {what} {name!r}{hint}; built in: {', '.join(BUILTINS)}; plugins: {plugins}")


REGISTRY = Registry()


def model_class(name: str) -> type[ConditionalGenerator]:
    """The registered class for ``name``; a ConfigError with the nearest name otherwise."""
    if name not in REGISTRY:
        raise REGISTRY.unknown(name)
    return REGISTRY[name]


def plugin_configs() -> dict[str, type]:
    """The config dataclass of every installed plugin, by name: the ``generators.<name>`` sections
    that params.yaml may hold besides the built-ins' (augment/params/config.py GeneratorsConfig)."""
    return {name: cls.config_class for name, cls in REGISTRY.plugins().items()}


def sampling_classes(names: Collection[str] | None = None) -> dict[str, type]:
    """The sampling-settings dataclass of every registered generator, by name: the
    ``sample.generators.<name>`` sections of params.yaml (augment/params/config.py). The
    built-ins' alone when every one of ``names`` is a built-in, so that reading params.yaml
    loads no plugin that it does not name; built-ins and plugins otherwise."""
    if names is not None and all(name in BUILTINS for name in names):
        return {name: cls.sampling_class for name, cls in BUILTINS.items()}
    return {name: REGISTRY[name].sampling_class for name in REGISTRY}

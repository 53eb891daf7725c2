"""params.yaml through the typed config: defaults, overrides, and errors that name the key."""

from pathlib import Path

import pytest
import yaml

from augment.params.config import ConfigError, Params, flatten
from augment.params.file import all_keys, load_params, mapping_keys, params_from_dict
from augment.params.sources import DEFAULT_SOURCES, SOURCES

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_matches_the_dataclass_defaults():
    # One source of truth: the shipped params.yaml states every default explicitly.
    assert load_params(ROOT / "params.yaml") == Params()


def test_the_defaults_sections_are_the_models_own_classes():
    """GeneratorsConfig's and sample.generators' built-in sections are typed by hand beside the
    models' config_class and sampling_class: they must name the same classes."""
    from augment.models.registry import BUILTINS

    params = Params()
    for name, cls in BUILTINS.items():
        assert type(params.generator(name)) is cls.config_class, name
        assert type(params.sample.generators.sections[name]) is cls.sampling_class, name


def test_params_yaml_lists_every_key():
    assert _leaf_keys(ROOT / "params.yaml") == set(all_keys())


def _leaf_keys(path: Path) -> set[str]:
    """The file's dotted keys, a mapping's entries (generators.methods.<name>) as its one key."""
    mappings = mapping_keys()
    return {next((m for m in mappings if k.startswith(m + ".")), k) for k in flatten(yaml.safe_load(path.read_text()))}


def test_issue_keys_exist():
    keys = set(all_keys())
    for key in [
        "data.dataset",
        "data.root",
        "data.train_size",
        "data.seed",
        "generators.cgan.d_steps",
        "generators.cvaegan.gamma",
        "generators.cvaegan.d_steps",
        "device",
    ]:
        assert key in keys
    for name in ("cvae", "cgan", "cvaegan"):
        for leaf in ("epochs", "batch_size", "latent_dim", "lr"):
            assert f"generators.{name}.{leaf}" in keys


def test_overrides_use_dotted_keys_and_yaml_values(tmp_path):
    p = load_params(
        ROOT / "params.yaml",
        [
            "generators.cgan.d_steps=2",
            "generators.cgan.epochs=5",
            "classifier.seeds=[4, 5]",
            "generators.cvaegan.gamma=0.5",
        ],
    )
    assert p.generators.cgan.d_steps == 2 and p.generators.cgan.epochs == 5
    assert p.classifier.seeds == [4, 5]
    assert p.generators.cvaegan.gamma == 0.5


def test_the_sources_list_defaults_to_13_the_profile_lists_all_and_any_subset_in_any_order_works():
    default = params_from_dict({}).classifier.sources
    assert default == list(DEFAULT_SOURCES) and len(default) == 16 and set(default) < set(SOURCES)
    assert {"classic+cvaegan-restyle", "classic+cvaegan-transfer"} < set(default)  # the stylisation sources
    assert load_params(ROOT / "params-mnist.yaml").classifier.sources == list(SOURCES)
    chosen = load_params(ROOT / "params.yaml", ["classifier.sources=[classic, real, cvaegan-transfer]"])
    assert chosen.classifier.sources == ["classic", "real", "cvaegan-transfer"]


def test_int_is_accepted_for_a_float_but_not_the_reverse():
    assert params_from_dict({"generators": {"cvaegan": {"gamma": 2}}}).generators.cvaegan.gamma == 2.0
    with pytest.raises(ConfigError, match="generators.cvae.epochs: expected an integer"):
        params_from_dict({"generators": {"cvae": {"epochs": 2.5}}})


@pytest.mark.parametrize(
    "override, message",
    [
        ("generators.cvaegan.gamm=1", "did you mean 'generators.cvaegan.gamma'"),
        ("generators.cvae.epochs=0", "generators.cvae.epochs: must be an integer >= 1"),
        ("generators.cgan.d_steps=0", "generators.cgan.d_steps: must be an integer >= 1"),
        ("generators.cvaegan.gamma=-1", "generators.cvaegan.gamma: must be a number >= 0"),
        ("classifier.synthetic_ratio=-0.5", "classifier.synthetic_ratio: must be a number >= 0"),
        ("data.dataset=cifar", "data.dataset: must be one of: digits, mnist"),
        ("device=tpu", "device: must be one of: auto, cpu, cuda"),
        ("generators.cvae.batch_size=yes", "generators.cvae.batch_size: expected an integer"),
        ("generators.cvae.epochs", "expected KEY=VALUE"),
        ("classifier.seeds=3", "classifier.seeds: expected a list of integers, got 3"),
        ("classifier.sources=[real, classic, cvea]", "classifier.sources: unknown source 'cvea'; did you mean 'cvae'?"),
        (
            "classifier.sources=[real, classic, cgan-restyle]",
            "classifier.sources: cgan has no encoder: the restyle and transfer sources do not apply",
        ),
        ("classifier.sources=[real, cvae]", "classifier.sources: must include 'classic': the baselines"),
        ("classifier.sources=[real, classic, cvae, cvae]", "classifier.sources: listed twice: cvae"),
        ("classifier.sources=cvae", "classifier.sources: expected a list of strings"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_params(ROOT / "params.yaml", [override])


def test_unknown_key_in_the_file_is_reported_with_a_suggestion(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("data:\n  datset: digits\n")
    with pytest.raises(ConfigError, match="unknown key 'data.datset'; did you mean 'data.dataset'"):
        load_params(f)


def test_malformed_yaml_names_the_file(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="params.yaml: malformed YAML"):
        load_params(f)


def test_missing_params_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_the_28x28_profile_has_exactly_the_keys_of_params_yaml():
    # One profile file: `cp params-mnist.yaml params.yaml` must give a complete, valid params.yaml.

    assert _leaf_keys(ROOT / "params-mnist.yaml") == set(all_keys())
    profile = load_params(ROOT / "params-mnist.yaml")
    assert profile.data.dataset == "mnist"


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("generators.cgan.conditioning", "labels", "must be one of: planes, projection"),
        ("generators.cvaegan.upsample", "bilinear", "must be one of: transposed, nearest"),
        ("generators.cvae.ema", 1.0, "must be a number in [0, 1)"),
        ("generators.cgan.steps_per_epoch", -1, "must be an integer >= 0"),
        ("generators.cvaegan.init_from", "cgan", "must be one of: none, cvae"),
        ("generators.cgan.spectral_norm", "maybe", "expected true or false"),
        ("classifier.lr_schedule", "step", "must be one of: constant, cosine"),
        ("evaluation.judge.lr_schedule", "linear", "must be one of: constant, cosine"),
    ],
)
def test_new_28x28_options_are_validated(key, value, message):
    with pytest.raises(ConfigError) as err:
        load_params(None, [f"{key}={value}"])
    assert key in str(err.value) and message in str(err.value)


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    """Nested aliases grow exponentially (9 levels of 9: 9**9 list items); the loader stops at the
    first alias, naming its line, before it expands anything."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        ref = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([ref] * 9)}]")
    f = tmp_path / "params.yaml"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"params.yaml: line 2: YAML aliases \(\*a0\) are not accepted"):
        load_params(f)
    with pytest.raises(ConfigError, match="--set data.seed: cannot parse value"):
        load_params(None, ["data.seed=*a0"])


def test_an_anchor_without_alias_is_plain_yaml(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("data:\n  seed: &s 3\n")
    assert load_params(f).data.seed == 3

"""Project wiring: the README's commands, CI, packaging and the config files."""

import pathlib
import re
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick, flags=re.S)


def test_quick_start_is_exactly_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert commands[0].endswith("attention-colorize")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == _readme_commands()[1]


def test_console_script_and_package_data():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (
        project["project"]["scripts"]["attention-colorize"]
        == "attention_colorization.cli:main"
    )
    data = project["tool"]["setuptools"]["package-data"]["attention_colorization"]
    assert "weights/*.npy" in data


def test_requirements_exclude_broken_packages():
    reqs = (ROOT / "requirements.txt").read_text().lower()
    assert "tensorflow==2.21" in reqs and "keras==3.15" in reqs
    assert "tensorflow-addons" not in reqs and "tensorflow-io" not in reqs


@pytest.mark.parametrize("name", ["paper", "small", "test"])
def test_configs_load_and_validate(name):
    import importlib.util

    from attention_colorization.config import validate

    spec = importlib.util.spec_from_file_location(name, ROOT / "configs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    validate(config)
    for field in (
        "data.train_dir",
        "data.val_dir",
        "data.pairs_csv",
        "data.image_size",
        "data.resize_short",
        "data.related_prob",
        "model.width",
        "model.tau",
        "model.attention_chunk",
        "train.batch_size",
        "train.stage1_steps",
        "train.stage2_steps",
        "train.checkpoint_every_steps",
        "train.mixed_precision",
        "train.distribution",
    ):
        section, key = field.split(".")
        assert key in config[section], field


def test_paper_config_has_the_paper_values():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "paper", ROOT / "configs" / "paper.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    assert (c.data.image_size, c.data.resize_short, c.model.width, c.model.tau) == (
        256,
        288,
        1.0,
        0.01,
    )
    assert (c.loss.perceptual, c.loss.gan, c.loss.sparse, c.loss.l1, c.loss.hist) == (
        1000.0,
        0.1,
        1.0,
        1000.0,
        1.0,
    )
    assert (
        c.train.learning_rate,
        c.train.beta_1,
        c.train.beta_2,
        c.train.batch_size,
    ) == (
        2e-5,
        0.5,
        0.99,
        6,
    )

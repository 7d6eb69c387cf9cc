import optuna
import pytest

from sweepdoctor.errors import ConfigError
from sweepdoctor.sweep import Choice, Fixed, FloatRange, SearchSpace
from sweepdoctor.sweep.search._suggest import suggest


@pytest.mark.parametrize(
    "doc,match",
    [
        ({"lrr": 0.1}, "unknown key 'lrr'"),
        ({"lr": {"low": 0.1, "high": 0.01}}, "low must be <= high"),
        ({"lr": {"low": 0.0, "high": 0.1, "log": True}}, "log range needs low > 0"),
        ({"lr": {"low": 0.1}}, "needs both 'low' and 'high'"),
        ({"batch_size": [16, 24]}, "not a power of two"),
        ({"optimizer": ["adam", "lion"]}, "'lion' is not one of"),
        ({"dropout": 1.5}, "out of range"),
        ({"momentum": {"low": 0.5, "high": 1.0}}, "out of range"),
        ({"optimizer": []}, "empty"),
        ({"depth": "two"}, "expected a number"),
        ({"lr": {"low": 1e-3, "high": 1e-1, "step": 2}}, "unknown option"),
        ({"optimizer_lr": {"lion": {"low": 1e-4, "high": 1e-2}}}, "'lion' is not one of"),
        ({"optimizer_lr": {"adam": 0.01}}, r"optimizer_lr.adam: must be a range"),
        ({"optimizer_lr": {"adam": {"low": 0.1, "high": 0.01}}}, "low must be <= high"),
        ({"optimizer_lr": ["adam"]}, "must be a table"),
        ({"optimizer_lr": {"adam": {"low": 1.0, "high": 2.0}}}, "lies outside lr"),
    ],
)
def test_bad_space_is_a_clear_error_naming_the_key(doc: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SearchSpace.from_mapping(doc)


def test_space_from_toml_shapes() -> None:
    s = SearchSpace.from_mapping({"lr": {"low": 1e-4, "high": 0.1, "log": True}, "optimizer": ["adam"], "depth": 3})
    assert s.lr == FloatRange(1e-4, 0.1, log=True)
    assert s.optimizer == Choice(("adam",))
    assert s.depth == Fixed(3)


def test_conditional_parameters_only_where_they_apply() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {}
    for _ in range(60):
        t = study.ask()
        hp = suggest(t, SearchSpace())
        seen.setdefault(hp.optimizer, set()).update(t.params)
        assert hp.batch_size in (16, 32, 64, 128)
        assert 1e-4 <= hp.lr <= 0.3
        assert hp.weight_decay == 0.0 or 1e-6 <= hp.weight_decay <= 1e-2
        study.tell(t, 0.0)
    assert "momentum" in seen["nesterov"] and "beta1" not in seen["nesterov"]
    assert "beta1" in seen["adam"] and "momentum" not in seen["adam"]
    assert "momentum" not in seen["sgd"] and "beta1" not in seen["sgd"]


def test_an_optimizers_lr_window_narrows_only_its_trials() -> None:
    """``optimizer_lr``: a trial that draws Adam samples lr inside Adam's window (within ``lr``);
    momentum keeps the whole range; the window round-trips through TOML and the fingerprint."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]

    from sweepdoctor.sweep.guide import space_toml

    space = SearchSpace.from_mapping({"lr": {"low": 1e-4, "high": 0.3, "log": True}, "optimizer": ["momentum", "adam"],
                                      "optimizer_lr": {"adam": {"low": 1e-5, "high": 3e-3, "log": True}}})
    assert space.lr_for("adam") == FloatRange(1e-4, 3e-3, log=True)  # inside lr too
    assert space.lr_for("momentum") == space.lr
    assert SearchSpace.from_mapping(tomllib.loads(space_toml(space))["space"]) == space
    assert "optimizer_lr" in space.fingerprint() and "optimizer_lr" not in SearchSpace().fingerprint()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn: dict[str, list[float]] = {"adam": [], "momentum": []}
    for _ in range(80):
        t = study.ask()
        hp = suggest(t, space)
        drawn[hp.optimizer].append(hp.lr)
        study.tell(t, 0.0)
    assert drawn["adam"] and all(1e-4 <= v <= 3e-3 for v in drawn["adam"])
    assert max(drawn["momentum"]) > 3e-3  # not narrowed


@pytest.mark.parametrize(("p", "value", "ok"), [
    (Choice(("sgd", "adam")), "adam", True),
    (Choice(("sgd", "adam")), "momentum", False),
    (Fixed(0.1), 0.1 * (1 + 1e-12), True),  # a float's round trip through the database
    (Fixed(0.1), 0.2, False),
    (FloatRange(1e-4, 0.3, log=True), 0.3 * (1 + 1e-12), True),
    (FloatRange(1e-4, 0.3, log=True), 0.31, False),
    (FloatRange(1e-6, 1e-2, log=True, include_zero=True), 0.0, True),
    (FloatRange(1e-6, 1e-2, log=True), 0.0, False),
    (FloatRange(0.0, 0.5), True, False),  # a flag is not a number
])
def test_admits(p: object, value: object, ok: bool) -> None:
    from sweepdoctor.sweep.config import admits

    assert admits(p, value) is ok  # type: ignore[arg-type]

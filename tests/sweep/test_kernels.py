"""The hot loop's primitives against torch's own: optimizer steps, dropout, hand-written backprop."""

from __future__ import annotations

import pytest
import torch

from sweepdoctor.diagnostics import Task
from sweepdoctor.sweep.config import OPTIMIZERS, TrialParams
from sweepdoctor.sweep.engine._backprop import loss_and_grads
from sweepdoctor.sweep.engine._kernels import FusedStepper, dropout_fn, dropout_multiplier
from sweepdoctor.sweep.engine._models import ACTIVATION_FNS, StackedMLP
from sweepdoctor.sweep.engine._optim import row_loss
from tests.sweep.helpers import make_optimizer


def _hp(optimizer: str, weight_decay: float) -> TrialParams:
    return TrialParams(lr=0.01, batch_size=16, optimizer=optimizer, schedule="cosine", weight_decay=weight_decay,
                       dropout=0.0, patience=0, depth=1, width=4, activation="relu", momentum=0.9, beta1=0.85,
                       beta2=0.99)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_fused_stepper_updates_exactly_as_torch_optim(optimizer: str, weight_decay: float) -> None:
    torch.manual_seed(0)
    ours = [torch.randn(3, 4, 5, requires_grad=True), torch.randn(3, 1, 5, requires_grad=True)]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    hp = _hp(optimizer, weight_decay)
    stepper, opt = FusedStepper(ours, hp), make_optimizer(theirs, hp)
    for step in range(5):
        grads = [torch.randn_like(p) for p in ours]
        lr = 0.01 * (1 - step / 10)
        for group in opt.param_groups:
            group["lr"] = lr
        for p, g in zip(theirs, grads):
            p.grad = g.clone()
        opt.step()
        if step % 2:
            stepper.step(lr, [g.clone() for g in grads])
        else:
            for p, g in zip(ours, grads):
                p.grad = g.clone()
            stepper.step(lr)
            stepper.zero_grad()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "adagrad", "rmsprop"])
def test_a_parameter_without_gradient_is_left_alone_as_torch_does(optimizer: str) -> None:
    torch.manual_seed(1)
    ours = [torch.randn(2, 3, requires_grad=True) for _ in range(3)]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    hp = _hp(optimizer, 1e-3)
    stepper = FusedStepper(ours, hp)
    # torch's fused SGD cannot take a parameter's first gradient after the others' (its
    # momentum buffer is missing): compare with the for-loop implementation, same math.
    opt = torch.optim.SGD(theirs, lr=hp.lr, momentum=hp.momentum, weight_decay=1e-3, foreach=False) \
        if optimizer == "momentum" else make_optimizer(theirs, hp)
    for step in range(4):
        present = [0, 2] if step < 2 else [0, 1, 2]  # parameter 1 gets its first gradient at step 2
        for params in (ours, theirs):
            for i, p in enumerate(params):
                p.grad = torch.full_like(p, 0.1 * (step + i + 1)) if i in present else None
        stepper.step(hp.lr)
        opt.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_dropout_multiplier_drops_a_fraction_p_and_keeps_the_mean(p: float) -> None:
    torch.manual_seed(2)
    m = dropout_multiplier((400, 500), p, torch.device("cpu"))
    values = m.unique().tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p), rel=1e-4)
    assert (m == 0).float().mean().item() == pytest.approx(p, abs=0.005)
    assert m.mean().item() == pytest.approx(1.0, abs=0.01)
    assert torch.equal(dropout_multiplier((7, 3), 0.0, torch.device("cpu")), torch.ones(7, 3))


def _mlp(activation: str, n_out: int, dropout: float) -> StackedMLP:
    mlp = StackedMLP(n_in=6, n_out=n_out, depth=2, width=8, activation=activation, dropout=dropout, seeds=[1, 2, 3],
                     device=torch.device("cpu"))
    mlp.weights = [w.detach().double().requires_grad_() for w in mlp.weights]
    mlp.biases = [b.detach().double().requires_grad_() for b in mlp.biases]
    return mlp


@pytest.mark.parametrize("activation", sorted(ACTIVATION_FNS))
@pytest.mark.parametrize(("task", "loss"), [
    (Task.CLASSIFICATION, "cross_entropy"), (Task.CLASSIFICATION, "mse"), (Task.REGRESSION, "mse")])
@pytest.mark.parametrize("training", [False, True])
def test_handwritten_backprop_matches_autograd(activation: str, task: Task, loss: str, training: bool) -> None:
    n_out = 4 if task is Task.CLASSIFICATION else 1
    mlp = _mlp(activation, n_out, dropout=0.3 if training else 0.0)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 11, 6, generator=gen, dtype=torch.float64)
    if task is Task.CLASSIFICATION:
        y = torch.randint(0, n_out, (3, 11), generator=gen)
    else:
        y = torch.randn(3, 11, generator=gen, dtype=torch.float64)
    w = torch.rand(3, 11, generator=gen, dtype=torch.float64)
    mlp.train(training)
    torch.manual_seed(4)  # the same dropout masks on both sides
    expected = (row_loss(mlp.forward(x), y, task, loss) * w).sum(1)
    expected.sum().backward()
    torch.manual_seed(4)
    got = loss_and_grads(mlp, x, y, w, task=task, loss=loss,
                         dropout=dropout_fn(mlp.dropout, x.device, x.dtype) if training else None)
    torch.testing.assert_close(got.fold_loss, expected.detach(), rtol=1e-12, atol=1e-12)
    for p, g in zip(mlp.parameters(), got.grads):
        assert p.grad is not None
        torch.testing.assert_close(g, p.grad, rtol=1e-10, atol=1e-12)

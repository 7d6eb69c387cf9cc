"""The README's second example: ``sweep.run`` with your own model.

    python examples/front_own_model.py

(tests/docs/test_front_examples.py checks it is the README's block, and runs it.)
"""
# ruff: noqa: I001  (the README's block as written)

import torch
from sklearn.datasets import load_digits
from sweepdoctor import sweep

X, y = load_digits(return_X_y=True)

def my_factory(hp, n_inputs, n_outputs):   # hp: sweep.TrialParams of the trial
    return torch.nn.Sequential(torch.nn.Linear(n_inputs, 64), torch.nn.ReLU(),
                               torch.nn.Dropout(hp.dropout), torch.nn.Linear(64, n_outputs))

result = sweep.run(model_fn=my_factory, X=X, y=y, n_trials=20, epochs=20,
                   study_name="digits-own-model", storage="sqlite:///s.db")
print(result.best_value, result.best_params)

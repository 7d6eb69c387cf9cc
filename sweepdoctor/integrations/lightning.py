"""Lightning: :class:`SweepdoctorCallback` records a ``Trainer``'s curves (needs the ``[lightning]`` extra).

    cb = SweepdoctorCallback(trial, task="classification", loss="cross_entropy")
    trainer = lightning.pytorch.Trainer(max_epochs=20, callbacks=[cb])
    trainer.fit(module, train_loader, val_loader)
    return cb.result(float(trainer.callback_metrics["val_acc"]))

See the manual's page "Lightning".
"""

from __future__ import annotations

from sweepdoctor.integrations._lightning import SweepdoctorCallback

__all__ = ["SweepdoctorCallback"]

"""Loss formulas used by two or more methods (style.md section 5: one place, no copies)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logistic_loss(logits_one: torch.Tensor, logits_zero: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of a logistic classifier: logits_one labelled 1, logits_zero labelled 0.

    The GAN discriminator loss (Goodfellow et al. 2014, eq. 1) and VEEGAN's O_LR (Algorithm 1, step 2)
    are both this; which side is "1" is the caller's choice.
    """
    return (F.binary_cross_entropy_with_logits(logits_one, torch.ones_like(logits_one))
            + F.binary_cross_entropy_with_logits(logits_zero, torch.zeros_like(logits_zero)))

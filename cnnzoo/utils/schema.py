"""What every config schema shares: strictness, the user's paths, the largest image side."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator, ConfigDict

# Config sections: unknown keys and loose types are errors, values frozen, numbers finite (an
# `.inf` learning rate would otherwise pass and fail an epoch into training).
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
# A path as the user writes it, `~` expanded once here (a shell leaves `--set a=~/x` as it is),
# so the run reads and writes where it says and the saved config holds the real path.
UserPath = Annotated[str, AfterValidator(os.path.expanduser)]
# The largest image side cnnzoo resizes to: one 8192x8192 RGB float32 image is 805 MB, far past
# what CNNs train on (ImageNet models take 224-600 pixels); a larger value is a typo that would
# fail with an out-of-memory error deep inside TensorFlow.
MAX_IMAGE_SIDE = 8192

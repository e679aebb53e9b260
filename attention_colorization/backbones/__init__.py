"""ImageNet-pretrained backbones (Keras 3) and a torch-free ``.pth`` reader.

* :func:`efficientnet_lite0`, :func:`efficientnet_lite2`: EfficientNet-Lite
  feature extractors / classifiers on RGB in [0, 255].
* :func:`load_state_dict`: a PyTorch state dict as numpy arrays, no torch.
"""

from attention_colorization.backbones.efficientnet_lite import (
    efficientnet_lite0,
    efficientnet_lite2,
)
from attention_colorization.backbones.torch_weights import load_state_dict

__all__ = ["efficientnet_lite0", "efficientnet_lite2", "load_state_dict"]

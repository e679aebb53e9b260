"""Export and deployment: a TF Serving SavedModel, its client, and TFLite.

Modules (TensorFlow is imported only by those that need it; mobile_reference
needs numpy only):

* :mod:`~attention_colorization.export.saved_model`: the SavedModel with its
  signatures, warm-up requests and atomic versions;
* :mod:`~attention_colorization.export.tflite`: the fixed-size TFLite model
  and its quantisations;
* :mod:`~attention_colorization.export.mobile_graph`: the network written with
  the ops of LiteRT's XNNPACK delegate, which the TFLite model runs;
* :mod:`~attention_colorization.export.mobile_reference`: what an app computes
  around that model (L, Lab, the reference histogram; the colour photo from
  ab), in numpy, to port;
* :mod:`~attention_colorization.export.calibration`: real photos for int8
  calibration, and the per-photo error of a TFLite model against Keras;
* :mod:`~attention_colorization.export.client`: the TF Serving client (REST,
  gRPC, or a SavedModel answering in-process);
* :mod:`~attention_colorization.export.cli`: the ``attention-colorize-export``
  command (subcommands ``saved_model`` and ``tflite``).

Needs the ``[export]`` extra (``pip install "attention-colorization[export]"``).
"""

"""Export and deployment: TF Serving SavedModel, its client, TFLite (see BUILD.md)."""

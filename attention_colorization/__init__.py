"""Exemplar-based image colorization with attention (Yin et al., ACM MM 2021).

Three colour sources meet in one attention mechanism: a reference photo (the
Semantic Color Module), a database of 313 quantised ab colours weighted by the
reference's histogram (the Database Color Module), and a gate that picks one
source per pixel.
"""

__version__ = "0.1.0"

__all__ = ["Colorizer", "__version__"]


def __getattr__(name):
    # Lazy: importing the package stays cheap; TensorFlow loads on first use.
    if name == "Colorizer":
        from attention_colorization.colorizer import Colorizer

        return Colorizer
    raise AttributeError(f"module 'attention_colorization' has no attribute {name!r}")

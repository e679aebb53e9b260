"""Exemplar-based image colorization with attention (Yin et al., ACM MM 2021).

Three colour sources meet in one attention mechanism: a reference photo (the
Semantic Color Module), a database of 313 quantised ab colours weighted by the
reference's histogram (the Database Color Module), and a gate that picks one
source per pixel.
"""

__version__ = "0.1.0"

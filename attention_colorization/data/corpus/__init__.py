"""The training corpus: photographs from installed packages, nothing else.

``tools/gather_photos.py`` is the command line; everything it does is in this
package so that it can be tested without the network:

* :mod:`.catalogue` - the sources: packages, photos and the listed choices;
* :mod:`.settings` - :class:`Options`, the split names, :class:`CorpusError`;
* :mod:`.summary` - :class:`Summary`, what a build did, and its report;
* :mod:`.debs` - ``apt-get download`` and ``dpkg -x`` into a cache folder;
* :mod:`.licences` - licences from a package's copyright file;
* :mod:`.candidates` - the source images of each package, before reading;
* :mod:`.items` - reading, working copies, deduplication;
* :mod:`.phash` - perceptual hashes and near-duplicates;
* :mod:`.splits` - train and validation by stable hash;
* :mod:`.composites` - objects pasted onto background crops;
* :mod:`.imaging` - resizing and JPEG/PNG bytes;
* :mod:`.manifest` - ``MANIFEST.csv``;
* :mod:`.build` - :func:`build_corpus`, the whole build;
* :mod:`.example` - the bundled example pair.

Sources, and only these (no other package may feed training, validation or
model selection):

* the colour photographs inside installed Python packages (:data:`PHOTOS`:
  scikit-image, scikit-learn, matplotlib; a package that is not installed is
  reported and left out);
* the Debian package ``plasma-workspace-wallpapers``: its photographic
  wallpapers only (:data:`WALLPAPER_PHOTOS`, chosen by looking at every
  wallpaper; drawn and abstract art is listed in :data:`WALLPAPERS_LEFT_OUT`),
  the largest file of each;
* the Debian package ``tuxpaint-stamps-default``: its photographs of objects,
  animals, plants and food, which have an alpha channel (:data:`STAMP_FOLDERS`
  and :data:`STAMP_EXTRA`, minus :data:`STAMP_LEFT_OUT`; cartoons, symbols and
  letters are left out, again by looking). Each becomes a few composites: the
  object pasted onto a random crop of a photographic background, its alpha
  written as a mask.

A Debian package is fetched with ``apt-get download`` into a cache folder and
unpacked there with ``dpkg -x``; nothing is installed. Licences come from the
package's ``/usr/share/doc/<package>/copyright`` (per file where it says so).

Output (``OUTPUT`` is the output folder)::

    OUTPUT/train/*.jpg          training images (data.train_dir)
    OUTPUT/validation/*.jpg     held-out images (data.val_dir)
    OUTPUT/masks/*.png          object masks of the composites (8-bit alpha)
    OUTPUT/MANIFEST.csv         one row per image, see MANIFEST_COLUMNS

The masks live outside ``train/`` and ``validation/`` because the input pipeline
lists image folders recursively.

Splits are decided by a stable hash of each source (package and path), so they
do not depend on the machine or the listing order; a composite is validation
when its object or its background is. Training composites are built from
training objects on training backgrounds only.

Every file is written atomically (temporary name, then rename) and an existing
output is kept, so an interrupted run resumes where it stopped; ``MANIFEST.csv``
is written last. Unreadable files are skipped and counted, never fatal.
"""

from attention_colorization.data.corpus.build import build_corpus
from attention_colorization.data.corpus.catalogue import PHOTOS, PythonPhoto
from attention_colorization.data.corpus.example import (
    EXAMPLE_PHOTO,
    write_example_pair,
)
from attention_colorization.data.corpus.manifest import MANIFEST_NAME, read_manifest
from attention_colorization.data.corpus.settings import (
    VAL_MIN_SIDE,
    CorpusError,
    Options,
)
from attention_colorization.data.corpus.summary import Summary

__all__ = [
    "EXAMPLE_PHOTO",
    "MANIFEST_NAME",
    "PHOTOS",
    "VAL_MIN_SIDE",
    "CorpusError",
    "Options",
    "PythonPhoto",
    "Summary",
    "build_corpus",
    "read_manifest",
    "write_example_pair",
]

"""The corpus's sources: the listed packages, photos and choices (looked at one by one)."""

from __future__ import annotations

import dataclasses

WALLPAPER_PACKAGE = "plasma-workspace-wallpapers"
STAMP_PACKAGE = "tuxpaint-stamps-default"
DEB_PACKAGES = (WALLPAPER_PACKAGE, STAMP_PACKAGE)
# Python package (import name) -> (distribution name, licence of the package).
PYTHON_PACKAGES = {
    "skimage": ("scikit-image", "BSD-3-Clause"),
    "sklearn": ("scikit-learn", "BSD-3-Clause"),
    "matplotlib": ("matplotlib", "Matplotlib License (PSF-based)"),
}


@dataclasses.dataclass(frozen=True)
class PythonPhoto:
    """A photograph shipped inside a Python package.

    Attributes:
        module: import name of the package (``skimage``).
        path: path inside the package folder.
        note: what the package documents about the photo's origin and rights.
        background: whether it may serve as a composite background (scenes
            yes; microscopy and astronomy no).
        group: photos of one group (the two views of a stereo pair) share their
            split, so that no near-copy of a validation photo is trained on.
    """

    module: str
    path: str
    note: str = ""
    background: bool = True
    group: str = ""


# Colour photographs only. The notes quote the docstrings of skimage.data and
# sklearn/datasets/images/README.txt.
PHOTOS = (
    PythonPhoto(
        "skimage",
        "data/astronaut.png",
        "NASA Great Images database; no known copyright restrictions, "
        "released into the public domain",
    ),
    PythonPhoto(
        "skimage",
        "data/chelsea.png",
        "CC0 by the photographer (Stefan van der Walt)",
    ),
    PythonPhoto(
        "skimage",
        "data/coffee.png",
        "courtesy of Pikolo Espresso Bar; CC0 by the photographer (Rachel Michetti)",
    ),
    PythonPhoto(
        "skimage",
        "data/rocket.jpg",
        "captured by SpaceX and released in the public domain",
    ),
    PythonPhoto(
        "skimage",
        "data/motorcycle_left.png",
        "Middlebury 2014 stereo benchmark (Scharstein et al.), down-sampled",
        group="skimage/motorcycle",
    ),
    PythonPhoto(
        "skimage",
        "data/motorcycle_right.png",
        "Middlebury 2014 stereo benchmark (Scharstein et al.), down-sampled",
        group="skimage/motorcycle",
    ),
    PythonPhoto(
        "skimage",
        "data/hubble_deep_field.jpg",
        "captured by NASA, may be freely used in the public domain",
        background=False,
    ),
    PythonPhoto(
        "skimage",
        "data/retina.jpg",
        "Creative Commons CC0 1.0 Universal Public Domain Dedication",
        background=False,
    ),
    PythonPhoto(
        "skimage",
        "data/ihc.png",
        "Center for Microscopy And Molecular Imaging (CMMI); "
        "no known copyright restrictions",
        background=False,
    ),
    PythonPhoto(
        "sklearn",
        "datasets/images/china.jpg",
        "Creative Commons licence; attribution: danielbuechele (README.txt)",
    ),
    PythonPhoto(
        "sklearn",
        "datasets/images/flower.jpg",
        "Creative Commons licence; attribution: Vince Alongi (README.txt)",
    ),
    PythonPhoto("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)
# Images of those packages looked at and left out.
PYTHON_LEFT_OUT = {
    ("skimage", "data/color.png"): "a synthetic colour wheel, not a photograph",
}
# plasma-workspace-wallpapers 5.27: every wallpaper, looked at one by one.
WALLPAPER_PHOTOS = {
    "BytheWater": "wooden jetty on a lake",
    "ColdRipple": "pier in fog (black and white: dropped as monochrome)",
    "ColorfulCups": "stacked plastic cups",
    "DarkestHour": "lake at dusk in fog",
    "EveningGlow": "rowing boats at a lake shore at sunset",
    "FallenLeaf": "maple leaves on the ground",
    "Grey": "curved facade (black and white: dropped as monochrome)",
    "Kite": "blue sky, clouds and a kite",
    "OneStandsOut": "moss with one orange shoot",
    "Path": "path through a spruce forest",
    "summer_1am": "lake with reeds at night",
}
WALLPAPERS_LEFT_OUT = {
    "Altai": "low-poly drawing of mountains",
    "Autumn": "painting",
    "Canopee": "abstract vector art",
    "Cascade": "abstract vector art",
    "Cluster": "abstract hexagons",
    "Elarun": "abstract curves",
    "Flow": "abstract vector art",
    "FlyingKonqui": "cartoon",
    "Honeywave": "abstract hexagons",
    "IceCold": "abstract vector art",
    "Kay": "abstract curves",
    "Kokkini": "abstract vector art",
    "MilkyWay": "abstract art",
    "Opal": "abstract polygons",
    "PastelHills": "abstract polygons",
    "Patak": "drawing",
    "SafeLanding": "abstract polygons",
    "Shell": "abstract polygons",
    "Volna": "abstract art",
}
# tuxpaint-stamps-default 2022.06.04: the top-level folders whose PNG stamps are
# photographs, looked at on contact sheets. A path with a "cartoon" folder is
# always left out, as is everything in STAMP_LEFT_OUT.
STAMP_FOLDERS = (
    "animals",
    "food",
    "hobbies",
    "household",
    "medical",
    "military",
    "people",
    "plants",
    "space",
    "sports",
    "vehicles",
)
STAMP_FOLDERS_LEFT_OUT = {
    "clothes": "line drawings of clothes and drawn hats",
    "naturalforces": "effects and renderings (fire, smoke, lightning)",
    "seasonal": "mostly drawn; its photographs are listed in STAMP_EXTRA",
    "symbols": "letters, signs, chess pieces, coins and symbols",
    "town": "drawn road signs, flags and houses; its photographs are in STAMP_EXTRA",
}
# Photographs in the folders left out above.
STAMP_EXTRA = (
    "seasonal/candle.png",
    "seasonal/christmas/Candy_cane_photo_1.png",
    "seasonal/christmas/Candy_cane_photo_2.png",
    "seasonal/christmas/Christmas_Tree_photo.png",
    "seasonal/christmas/Christmas_pudding.png",
    "seasonal/christmas/German_Christmas_toy.png",
    "seasonal/christmas/Mince_Pie.png",
    "seasonal/christmas/Roast_turkey.png",
    "seasonal/halloween/grave-a.png",
    "seasonal/halloween/grave-b.png",
    "seasonal/halloween/grave-c.png",
    "seasonal/halloween/grave-d.png",
    "seasonal/halloween/grave-e.png",
    "seasonal/halloween/grave-f.png",
    "seasonal/halloween/grave-g.png",
    "seasonal/halloween/grave-h.png",
    "seasonal/halloween/grave-i.png",
    "seasonal/halloween/grave-j.png",
    "town/monuments/inukshuk-photo.png",
    "town/roadsigns/railroad_crossing.png",
    "town/roadsigns/traffic_cone.png",
    "town/uk_post_box.png",
    "town/usps_mailbox.png",
)
# Drawings, renderings and mirrored copies inside STAMP_FOLDERS.
STAMP_LEFT_OUT = {
    "animals/fish/bluegroper.png": "drawn",
    "animals/fish/butterflyfish.png": "drawn",
    "animals/fish/clownfish.png": "drawn",
    "animals/fish/dolphinfish.png": "drawn",
    "animals/fish/moonwrasse.png": "drawn",
    "animals/fish/shrimp.png": "drawn",
    "animals/fish/stripedfish.png": "drawn",
    "animals/insects/bee.png": "line drawing",
    "animals/insects/fly.png": "gray drawing",
    "animals/mammals/aquatic/orca.png": "drawn",
    "animals/mammals/aquatic/whale.png": "drawn",
    "animals/mammals/echidna.png": "silhouette",
    "animals/mammals/hedgehog.png": "cartoon",
    "food/pizza.png": "cartoon",
    "household/arttools/highlighter.png": "drawn logo on a gray photo",
    "medical/tooth.png": "line drawing",
    "military/ammunition/old_naval_shell.png": "rendering",
    "military/vehicles/bradley_mirror.png": "mirrored copy of bradley.png",
    "military/vehicles/ww2_german_gun.png": "rendering",
    "people/body_parts/eye.png": "cartoon",
    "space/planets/0_sun.png": "rendering",
    "space/planets/6_saturn.png": "drawn",
    "space/voyager2.png": "rendering",
    "sports/rugby_goal_posts.png": "drawn lines",
    "vehicles/7spoke256.png": "drawn",
    "vehicles/construction/dumper_mirror.png": "mirrored copy of dumper.png",
    "vehicles/emergency/sedan_police.png": "drawn",
    "vehicles/emergency/sedan_police_mirror.png": "drawn",
    "vehicles/ship/chineseJunk.png": "rendering",
}
STAMP_ROOT = "usr/share/tuxpaint/stamps"
WALLPAPER_ROOT = "usr/share/wallpapers"
# Short prefixes of output file names.
PREFIXES = {
    "scikit-image": "skimage",
    "scikit-learn": "sklearn",
    "matplotlib": "matplotlib",
    WALLPAPER_PACKAGE: "plasma",
    STAMP_PACKAGE: "tuxpaint",
}

"""The TFLite export: mobile graph, quantisations, int8 calibration, app side."""

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import synthetic_photo, tiny_config
from PIL import Image

from attention_colorization import color
from attention_colorization.export import calibration as calibration_lib
from attention_colorization.export import cli, mobile_graph
from attention_colorization.export import saved_model as saved_model_lib
from attention_colorization.export import tflite as tflite_lib

# mean |delta ab| (Lab units) allowed against the float SavedModel/Keras path.
TOLERANCES = {"none": 0.5, "float16": 1.0, "dynamic": 3.0, "int8": 6.0}
# The ops that split XNNPACK's partition in the first TFLite export (issue 11).
SPLITTING_OPS = {"POW", "UNSORTED_SEGMENT_SUM", "TOPK_V2", "WHILE"}


def _mean_abs(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


def _max_abs(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def _gray(h, w, seed=0):
    return synthetic_photo(h, w, seed).mean(axis=-1).astype(np.uint8)


def _pair(seed, size=32, interface="lab"):
    """One input of the mobile signature: a gray target and a colour reference."""
    gray = np.repeat(_gray(size, size, seed=seed)[..., None], 3, axis=-1)
    reference = synthetic_photo(size, size, seed + 10)
    return calibration_lib.pair_inputs(gray, reference, interface)


def _constants(inputs):
    return {k: tf.constant(v) for k, v in inputs.items()}


# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def module(tiny_workdir):
    """The tiny model's ColorizerModule (in process: serving_default, mobile_*)."""
    return saved_model_lib.load_module(tiny_workdir)


@pytest.fixture(scope="module")
def saved_model_dir(tmp_path_factory, module):
    """A SavedModel with the tiny model's two mobile functions (what the TFLite
    exporter reads of a full export; test_export.py tests the rest)."""
    archive = keras.export.ExportArchive()
    endpoints = module.endpoints()
    for name in tflite_lib.MOBILE_FUNCTIONS.values():
        fn, signature = endpoints[name]
        archive.add_endpoint(name, fn, input_signature=signature)
    path = tmp_path_factory.mktemp("mobile") / "1"
    archive.write_out(str(path), verbose=False)
    return path


@pytest.fixture(scope="module")
def mobile(saved_model_dir):
    return tflite_lib.mobile_function_from_saved_model(saved_model_dir)


@pytest.fixture(scope="module")
def tflite_models(mobile):
    concrete, owner, _ = mobile
    return {
        q: tflite_lib.convert(concrete, owner, q) for q in tflite_lib.QUANTIZE_MODES
    }


@pytest.fixture(scope="module")
def mobile_pairs():
    """Test inputs at S = 32 (not the calibration photos)."""
    return [_pair(20 + i) for i in range(3)]


@pytest.fixture(scope="module")
def real_photos():
    """scikit-image's colour photos: calibration (first 2), evaluation (last 2)."""
    photos = calibration_lib.package_photos()
    assert len(photos) == len(calibration_lib.SKIMAGE_PHOTOS)
    return photos[:2], photos[-2:]


@pytest.fixture(scope="module")
def pretrained_matching(real_photos):
    """A random generator with the EfficientNet-Lite0 matcher at 64 px (the
    demo model's kind: residual decoder, joint bilateral upsampling; the
    attention in one chunk), its module and TFLite models: float32, and int8
    calibrated on two real photos."""
    from attention_colorization.model import build_generator

    config = tiny_config(
        **{
            "model.matching": "efficientnet_lite0",
            "model.attention_chunk": 256,
            "model.residual_decoder": True,
            "model.upsampling": "joint_bilateral",
            "data.image_size": 64,
        }
    )
    generator = build_generator(config)
    module = saved_model_lib.ColorizerModule(generator, config)
    concrete, owner, _ = tflite_lib.mobile_function_from_module(module)
    samples = calibration_lib.representative_pairs(64, real_photos[0])
    models = {
        q: tflite_lib.convert(concrete, owner, q, calibration=samples)
        for q in ("none", "int8")
    }
    return generator, module, models


# ------------------------------------------------------------- mobile graph


def test_mobile_function_matches_keras_generator(module, mobile, mobile_pairs):
    """The SavedModel's mobile_lab function is the Keras generator (floor added)."""
    concrete, _, size = mobile
    assert size == module.image_size == 32
    keras_ab = calibration_lib.keras_runner(module)
    for pair in mobile_pairs:
        got = concrete(**_constants(pair))["ab"].numpy()
        assert _max_abs(got, keras_ab(**pair)) < 1e-3


@pytest.mark.parametrize("block", [1, 2, 8, None])
def test_top_k_values_is_top_k_bit_for_bit(block):
    """The SCM's top-k of the mobile graph (REDUCE_MAX rounds), ties included."""
    rng = np.random.default_rng(block or 0)
    x = rng.integers(-3, 4, size=(3, 5, 64)).astype(np.float32) * 0.37
    x[0, 1] = -2.0  # One value throughout (a flat reference).
    x[1, 2, :3] = 5.0  # The maximum three times.
    x[2, 3, ::2] = 1.11  # Ties in every block.
    y = rng.normal(size=(2, 16, 64)).astype(np.float32) * 40.0
    for values, bound in ((x, 10.0), (y, 400.0)):
        got = mobile_graph.top_k_values(tf.constant(values), 8, bound, block)
        want = tf.math.top_k(values, 8).values
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(ValueError, match="block"):
        mobile_graph.top_k_values(tf.constant(y), 8, 400.0, block=16)


def test_mobile_graph_equals_the_generator_with_pretrained_matching(
    pretrained_matching,
):
    """mobile_graph.forward restates the generator (SCM, DCM, gate, decoder,
    matcher input) with XNNPACK's ops: the same ab within float rounding."""
    generator, module, models = pretrained_matching
    for seed in (1, 2):
        pair = _pair(seed, size=64)
        hist = pair["ref_hist"] + module.hist_floor
        hist = hist / hist.sum(axis=-1, keepdims=True)
        inputs = {"l": pair["l"], "ref_lab": pair["ref_lab"], "ref_hist": hist}
        want = generator(inputs, stage=2)["ab"].numpy()  # ab / 110
        got = tf.function(mobile_graph.forward)(generator, *inputs.values())
        assert _max_abs(got, want) < 1e-5
        assert _max_abs(tflite_lib.run(models["none"], **pair), 110.0 * want) < 1e-3


def test_mobile_signature_matches_keras_on_real_photos(
    module, tflite_models, pretrained_matching, real_photos
):
    """float32 and float16 TFLite vs the live Keras model on real photos."""
    cases = [
        (module, tflite_models["none"], "none", 32),
        (module, tflite_models["float16"], "float16", 32),
        (pretrained_matching[1], pretrained_matching[2]["none"], "none", 64),
    ]
    photos = real_photos[1]
    for keras_module, model, quantize, size in cases:
        keras_ab = calibration_lib.keras_runner(keras_module)
        rows = calibration_lib.photo_errors(model, keras_ab, photos, size)
        assert [r["photo"] for r in rows] == [p.name for p in photos]
        limit = 1e-3 if quantize == "none" else TOLERANCES[quantize]
        for row in rows:
            assert max(row["related"], row["unrelated"]) <= limit, (quantize, row)


@pytest.mark.parametrize("quantize", ["none", "float16"])
def test_mobile_graph_runs_whole_in_xnnpack(
    tflite_models, pretrained_matching, quantize
):
    """No op of the ``lab`` graph stays outside XNNPACK: one partition."""
    models = {"encoder": tflite_models[quantize]}
    if quantize == "none":
        models["efficientnet_lite0"] = pretrained_matching[2][quantize]
    for matching, model in models.items():
        ops = set(tflite_lib.list_ops(model))
        assert "CONV_2D" in ops and "BATCH_MATMUL" in ops and "SOFTMAX" in ops
        assert not ops & SPLITTING_OPS, (matching, ops)
        assert not ops & set(mobile_graph.NON_XNNPACK_OPS), (matching, ops)
        assert all(op.isupper() and not op.startswith("FLEX") for op in ops), ops
        assert "CUSTOM" not in ops
        report = tflite_lib.xnnpack_report(model)
        assert report["undelegated"] == [] and report["partitions"] == 1, report


# ----------------------------------------------------------------- variants


@pytest.mark.parametrize("quantize", tflite_lib.QUANTIZE_MODES)
def test_tflite_variant_parity_and_builtin_ops(
    mobile, tflite_models, mobile_pairs, quantize
):
    concrete, _, _ = mobile
    model = tflite_models[quantize]
    ops = tflite_lib.list_ops(model)
    assert "CONV_2D" in ops and "SOFTMAX" in ops
    assert all(op.isupper() and op != "CUSTOM" for op in ops), ops  # No Flex/custom.
    interpreter = tflite_lib.interpreter(model)
    (signature,) = interpreter.get_signature_list().items()
    assert signature[0] == "serving_default"
    assert set(signature[1]["inputs"]) == {"l", "ref_lab", "ref_hist"}
    assert signature[1]["outputs"] == ["ab"]
    runner = interpreter.get_signature_runner("serving_default")
    details = runner.get_input_details()
    assert all(d["dtype"] == np.float32 for d in details.values())
    assert list(details["l"]["shape"]) == [1, 32, 32, 1]
    assert list(details["ref_lab"]["shape"]) == [1, 32, 32, 3]
    assert list(details["ref_hist"]["shape"]) == [1, color.NUM_BINS]
    errors = []
    for pair in mobile_pairs:
        ab = runner(**pair)["ab"]
        assert ab.shape == (1, 32, 32, 2) and ab.dtype == np.float32
        errors.append(_mean_abs(ab, concrete(**_constants(pair))["ab"].numpy()))
    assert max(errors) <= TOLERANCES[quantize], errors
    if quantize == "none":
        assert max(errors) < 1e-3  # Float32 TFLite is the same computation.


def test_quantized_variants_differ_in_kind(tflite_models):
    ops = {q: set(tflite_lib.list_ops(m)) for q, m in tflite_models.items()}
    assert "QUANTIZE" in ops["int8"] and "QUANTIZE" not in ops["none"]
    assert "DEQUANTIZE" in ops["float16"]
    assert len(tflite_models["dynamic"]) < 0.35 * len(tflite_models["none"])
    sizes = {q: len(m) for q, m in tflite_models.items()}
    assert sizes["float16"] <= 0.55 * sizes["none"], sizes


def test_int8_keeps_the_sensitive_parts_in_float(pretrained_matching, real_photos):
    """int8 runs F's and the decoder's convolutions; the colour inputs, the
    matcher, the attention, the DCM posterior and the gate stay float, and the
    result stays near the Keras model on photos it was not calibrated on."""
    _, module, models = pretrained_matching
    ops = tflite_lib.operators(models["int8"])
    scoped = [op for op in ops if mobile_graph.SCOPE_PREFIX in op["output"]]
    for scope in (
        mobile_graph.INPUT_SCOPE,
        mobile_graph.MATCHER_SCOPE,
        mobile_graph.ATTENTION_SCOPE,
        mobile_graph.DCM_SCOPE,
        mobile_graph.GATE_SCOPE,
    ):
        assert any(scope in op["output"] for op in scoped), scope
    # A float part's op gives float, or int8 only to quantise F's input.
    assert all(op["type"] == "FLOAT32" or op["op"] == "QUANTIZE" for op in scoped), {
        (op["op"], op["type"]) for op in scoped
    }
    matcher_convs = [
        op
        for op in scoped
        if mobile_graph.MATCHER_SCOPE in op["output"] and op["op"] == "CONV_2D"
    ]
    assert matcher_convs and all(op["type"] == "FLOAT32" for op in matcher_convs)
    f_convs = [
        op
        for op in ops
        if op["op"] == "CONV_2D" and op["output"].startswith("feature_extractor")
    ]
    assert f_convs and all(op["type"] == "INT8" for op in f_convs)
    assert all(op["type"] == "FLOAT32" for op in ops if op["op"] == "SOFTMAX")
    keras_ab = calibration_lib.keras_runner(module)
    for row in calibration_lib.photo_errors(
        models["int8"], keras_ab, real_photos[1], 64
    ):
        assert max(row["related"], row["unrelated"]) <= 4.0, row


def test_small_config_int8_size_ratio():
    """int8 <= 30 % and float16 <= 55 % of float32, on the small config (width 0.25).

    The tiny config's int8 file is ~30.0 % of its float32 one: with 0.57 M
    weights, the int32 biases, per-channel scales and float-fallback constants
    weigh too much; the small config (2.2 M weights) is the honest measure.
    """
    import importlib.util
    import pathlib

    from attention_colorization.model import build_generator

    path = pathlib.Path(__file__).resolve().parents[1] / "configs" / "small.py"
    spec = importlib.util.spec_from_file_location("small", path)
    small = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(small)
    config = small.get_config()
    module = saved_model_lib.ColorizerModule(build_generator(config), config)
    concrete, owner, size = tflite_lib.mobile_function_from_module(module)
    assert size == 128
    calibration = calibration_lib.representative_pairs(size)[:2]
    sizes = {
        q: len(tflite_lib.convert(concrete, owner, q, calibration=calibration))
        for q in ("none", "float16", "int8")
    }
    assert sizes["float16"] <= 0.55 * sizes["none"], sizes
    assert sizes["int8"] <= 0.30 * sizes["none"], sizes


def test_uint8_interface(saved_model_dir, tflite_models):
    """``--interface=uint8``: images in, the colour work in the graph (with the
    ops XNNPACK leaves out); the same ab as the ``lab`` model on those images."""
    concrete, owner, size = tflite_lib.mobile_function_from_saved_model(
        saved_model_dir, interface="uint8"
    )
    model = tflite_lib.convert(concrete, owner, "none")
    runner = tflite_lib.interpreter(model).get_signature_runner("serving_default")
    details = runner.get_input_details()
    assert set(details) == {"gray", "reference"}
    assert details["gray"]["dtype"] == np.uint8
    assert list(details["gray"]["shape"]) == [1, 32, 32, 1]
    assert {"POW", "TOPK_V2"} <= set(tflite_lib.list_ops(model))
    # The colour work is in a float scope for int8 (POW, TOPK_V2 among it).
    scoped = {
        op["op"]
        for op in tflite_lib.operators(model)
        if mobile_graph.COLOR_SCOPE in op["output"]
    }
    assert {"POW", "TOPK_V2"} <= scoped, scoped
    assert tflite_lib.xnnpack_report(model)["partitions"] > 1
    for seed in (3, 4):
        images = _pair(seed, interface="uint8")
        ab = runner(**images)["ab"]
        expected = concrete(**_constants(images))["ab"]
        assert _mean_abs(ab, expected.numpy()) < 1e-3
        lab = tflite_lib.run(tflite_models["none"], **_pair(seed))
        assert _mean_abs(ab, lab) < 0.05  # numpy vs TensorFlow colour work


def test_tflite_image_size_multiple(mobile, saved_model_dir):
    concrete, owner, size = tflite_lib.mobile_function_from_saved_model(
        saved_model_dir, image_size=64
    )
    assert size == 64
    model = tflite_lib.convert(concrete, owner, "none")
    pair = _pair(3)
    # Pooling the 2x-repeated inputs gives back the 32 px ones exactly.
    big = {k: np.repeat(np.repeat(pair[k], 2, 1), 2, 2) for k in ("l", "ref_lab")}
    ab = tflite_lib.run(model, ref_hist=pair["ref_hist"], **big)
    assert ab.shape == (1, 64, 64, 2)
    small = mobile[0](**_constants(pair))
    upsampled = tf.image.resize(small["ab"], [64, 64], method="bilinear").numpy()
    assert _mean_abs(ab, upsampled) < 1e-3
    with pytest.raises(tflite_lib.TFLiteExportError, match="multiple"):
        tflite_lib.mobile_function_from_saved_model(saved_model_dir, image_size=48)
    with pytest.raises(tflite_lib.TFLiteExportError, match="--interface"):
        tflite_lib.mobile_function_from_saved_model(saved_model_dir, interface="rgb")


# ----------------------------------------------------------------- app side


def test_reference_implementation_matches_serving_default(module, tflite_models):
    """The app side in numpy (mobile_reference) around the TFLite model gives
    the SavedModel's colour photo."""
    from attention_colorization.export import mobile_reference

    for seed, (h, w) in ((5, (37, 53)), (6, (64, 48))):
        gray = _gray(h, w, seed=seed)
        reference = synthetic_photo(40, 44, seed + 1)
        rgb = mobile_reference.colorize(tflite_models["none"], gray, reference)
        served = module.serving_default(
            gray=tf.constant(gray[None, ..., None]),
            reference=tf.constant(reference[None]),
        )["rgb"][0].numpy()
        assert rgb.shape == served.shape and rgb.dtype == np.uint8
        assert _mean_abs(rgb, served) < 0.5 and _max_abs(rgb, served) <= 3


def test_reference_implementation_needs_no_tensorflow():
    code = (
        "import sys\n"
        "from attention_colorization.export import mobile_reference as ref\n"
        "assert ref.ab_bins().shape == (313, 2)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_conversion_refuses_flex_ops_and_scanner_sees_them():
    @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="x")])
    def patches(x):  # ExtractImagePatches has no TFLite builtin: it needs Flex.
        sizes, rates = [1, 2, 2, 1], [1, 1, 1, 1]
        return {"y": tf.image.extract_patches(x, sizes, sizes, rates, "VALID")}

    concrete = patches.get_concrete_function()
    with pytest.raises(tflite_lib.TFLiteExportError, match="ExtractImagePatches"):
        tflite_lib.convert(concrete, None, "none")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    model = converter.convert()
    assert tflite_lib.list_ops(model) == ["FlexExtractImagePatches"]
    assert [op["op"] for op in tflite_lib.operators(model)] == [
        "FlexExtractImagePatches"
    ]


# -------------------------------------------------------------- calibration


def test_calibration_uses_real_photos():
    photos = calibration_lib.calibration_photos()
    assert [p.name for p in photos] == list(calibration_lib.CALIBRATION_PHOTOS)
    pairs = calibration_lib.representative_pairs(32, photos[:3])
    assert len(pairs) == 6
    assert set(pairs[0]) == {"l", "ref_lab", "ref_hist"}
    assert pairs[0]["l"].shape == (1, 32, 32, 1) and pairs[0]["l"].dtype == np.float32
    assert pairs[1]["ref_lab"].shape == (1, 32, 32, 3)
    assert pairs[0]["ref_lab"][..., 1:].std() > 5  # Real, colourful content.
    np.testing.assert_allclose(pairs[0]["ref_hist"].sum(), 1.0, rtol=1e-5)
    # Pair 0: photo 0 with its own colours; pair 1: with photo 1's.
    np.testing.assert_array_equal(pairs[0]["l"], pairs[1]["l"])
    np.testing.assert_array_equal(pairs[1]["ref_lab"], pairs[2]["ref_lab"])
    uint8 = calibration_lib.representative_pairs(32, photos[:2], interface="uint8")
    assert uint8[0]["gray"].shape == (1, 32, 32, 1)
    assert uint8[0]["gray"].dtype == np.uint8


def test_calibration_dir(photo_dir, tmp_path):
    photos = calibration_lib.calibration_photos(photo_dir)
    assert len(photos) == 8 and photos == sorted(photos)  # Subfolders too.
    picked = calibration_lib.calibration_photos(photo_dir, limit=3)
    assert picked == [photos[0], photos[4], photos[7]]
    (tmp_path / "one").mkdir()
    Image.fromarray(synthetic_photo(16, 16, 0)).save(tmp_path / "one" / "a.png")
    with pytest.raises(calibration_lib.CalibrationError, match="too few"):
        calibration_lib.calibration_photos(tmp_path / "one")
    with pytest.raises(calibration_lib.CalibrationError, match="not a folder"):
        calibration_lib.calibration_photos(tmp_path / "none")
    output = str(tmp_path / "m.tflite")
    assert cli.export_tflite(output, quantize="none", calibration_dir=".") == 1
    assert cli.export_tflite(output, quantize="int8", calibration_dir="/none") == 1
    assert not (tmp_path / "m.tflite").exists()


def test_split_sources_keeps_crops_of_one_photo_together(tmp_path):
    names = ["a_c0.jpg", "a_c1.jpg", "b.png", "c_c0.jpg", "c_c2.jpg", "d_c1.jpg"]
    photos = [tmp_path / n for n in names]
    assert calibration_lib.source_of(photos[1]) == "a"
    assert calibration_lib.source_of(tmp_path / "x_c0_big.jpg") == "x_c0_big"
    calib, rest = calibration_lib.split_sources(photos, 2)
    assert [p.name for p in calib] == ["a_c0.jpg", "d_c1.jpg"]
    assert [p.name for p in rest] == ["b.png", "c_c0.jpg", "c_c2.jpg"]
    calib, rest = calibration_lib.split_sources(photos, 10)
    assert len(calib) == 4 and rest == []


def test_int8_export_command_with_calibration_dir(
    saved_model_dir, photo_dir, tmp_path, capsys
):
    output = tmp_path / "m.tflite"
    code = cli.export_tflite(
        str(output),
        saved_model=str(saved_model_dir),
        quantize="int8",
        calibration_dir=str(photo_dir),
    )
    assert code == 0, capsys.readouterr().err
    assert "int8, lab, 32x32" in capsys.readouterr().out
    model = output.read_bytes()
    assert "QUANTIZE" in tflite_lib.list_ops(model)
    ab = tflite_lib.run(model, **_pair(7))
    assert ab.shape == (1, 32, 32, 2) and np.all(np.isfinite(ab))


def test_photo_errors(tflite_models):
    photos = calibration_lib.package_photos()[:2]
    rows = calibration_lib.photo_errors(
        tflite_models["float16"], tflite_models["none"], photos, 32
    )
    assert [r["photo"] for r in rows] == [p.name for p in photos]
    for row in rows:
        assert 0 < row["related"] <= TOLERANCES["float16"]
        assert 0 < row["unrelated"] <= TOLERANCES["float16"]
    same = calibration_lib.photo_errors(
        tflite_models["none"], tflite_models["none"], photos, 32
    )
    assert all(r["related"] == r["unrelated"] == 0.0 for r in same)


def test_unknown_quantize_mode(mobile):
    with pytest.raises(tflite_lib.TFLiteExportError, match="--quantize"):
        tflite_lib.convert(mobile[0], mobile[1], "int4")


def test_write_atomic(tmp_path):
    target = tmp_path / "sub" / "m.tflite"
    tflite_lib.write_atomic(b"abc", target)
    assert target.read_bytes() == b"abc"
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.tflite"]

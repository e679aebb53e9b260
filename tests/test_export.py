"""Export and deployment: the SavedModel for TF Serving, its client, and TFLite."""

import base64
import http.server
import io
import json
import pathlib
import re
import socket
import subprocess
import sys
import threading
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf
from conftest import synthetic_photo
from PIL import Image

from attention_colorization import Colorizer, color
from attention_colorization.export import cli, client
from attention_colorization.export import saved_model as saved_model_lib
from attention_colorization.weights_path import ModelPathError

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEMO = ROOT / "attention_colorization" / "weights" / "demo"

# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def export_base(tmp_path_factory, tiny_workdir):
    """The tiny model exported once, as ``BASE/1``."""
    base = tmp_path_factory.mktemp("served") / "colorizer"
    path = saved_model_lib.export_from_weights(tiny_workdir, base)
    assert path == base / "1"
    return base


@pytest.fixture(scope="module")
def saved_model_dir(export_base):
    return export_base / "1"


@pytest.fixture(scope="module")
def loaded(saved_model_dir):
    return tf.saved_model.load(str(saved_model_dir))


@pytest.fixture(scope="module")
def colorizer(tiny_workdir):
    return Colorizer.load(tiny_workdir)


@pytest.fixture(scope="module")
def serving_session(saved_model_dir):
    """The export loaded the way TF Serving (SavedModelBundle) loads it.

    Graph mode: ``loader.load`` imports the ``serve`` MetaGraph into a session
    and runs its saver's restore op; requests are then ``session.run`` on
    tensor names (see :func:`_session_run`). Nothing binds variables through
    the object graph, as ``tf.saved_model.load`` does.
    """
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph)
    with graph.as_default():
        meta_graph = tf.compat.v1.saved_model.loader.load(
            session, ["serve"], str(saved_model_dir)
        )
    yield session, meta_graph.signature_def
    session.close()


def _session_run(serving_session, name, **inputs):
    """Runs signature ``name``: its input tensor names fed, output names fetched."""
    session, signatures = serving_session
    signature = signatures[name]
    assert set(inputs) == set(signature.inputs)
    feed = {signature.inputs[k].name: v for k, v in inputs.items()}
    fetches = {k: v.name for k, v in signature.outputs.items()}
    return session.run(fetches, feed_dict=feed)


_CLI_MODULE = "tensorflow.python.tools.saved_model_cli"


def _max_abs(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def _gray(h, w, seed=0):
    return synthetic_photo(h, w, seed).mean(axis=-1).astype(np.uint8)


def _encode(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _mean_abs(a, b):
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


# -------------------------------------------------------------------- SavedModel


def test_signature_defs_as_saved_model_cli_shows_them(saved_model_dir):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString(
        (saved_model_dir / "saved_model.pb").read_bytes()
    )
    sigs = proto.meta_graphs[0].signature_def
    assert {"serving_default", "colorize_bytes"} <= set(sigs)

    def describe(tensors):
        return {
            k: (tf.dtypes.as_dtype(v.dtype).name, [d.size for d in v.tensor_shape.dim])
            for k, v in tensors.items()
        }

    default = sigs["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert describe(default.inputs) == {
        "gray": ("uint8", [-1, -1, -1, 1]),
        "reference": ("uint8", [-1, -1, -1, 3]),
    }
    assert describe(default.outputs) == {
        "rgb": ("uint8", [-1, -1, -1, 3]),
        "ab": ("float32", [-1, -1, -1, 2]),
    }
    by_bytes = sigs["colorize_bytes"]
    assert by_bytes.method_name == "tensorflow/serving/predict"
    assert describe(by_bytes.inputs) == {
        "gray_bytes": ("string", [-1]),
        "reference_bytes": ("string", [-1]),
    }
    assert describe(by_bytes.outputs) == {"rgb_png_bytes": ("string", [-1])}
    mobile = sigs["mobile_ab"]  # For the TFLite exporter; at the model's size S.
    assert describe(mobile.inputs) == {
        "gray": ("uint8", [1, 32, 32, 1]),
        "reference": ("uint8", [1, 32, 32, 3]),
    }
    assert describe(mobile.outputs) == {"ab": ("float32", [1, 32, 32, 2])}


def test_loaded_signatures_structure(loaded):
    fn = loaded.signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    assert specs["gray"].dtype == tf.uint8 and specs["gray"].shape.as_list() == [
        None,
        None,
        None,
        1,
    ]
    assert set(fn.structured_outputs) == {"rgb", "ab"}
    assert fn.structured_outputs["ab"].dtype == tf.float32
    fn = loaded.signatures["colorize_bytes"]
    assert set(fn.structured_input_signature[1]) == {"gray_bytes", "reference_bytes"}
    assert fn.structured_outputs["rgb_png_bytes"].dtype == tf.string


def test_serving_default_matches_colorizer(loaded, colorizer):
    grays = np.stack([_gray(37, 53, seed=1), _gray(37, 53, seed=2)])  # [2, H, W]
    refs = np.stack([synthetic_photo(40, 44, 3), synthetic_photo(40, 44, 4)])
    out = loaded.signatures["serving_default"](
        gray=tf.constant(grays[..., None]), reference=tf.constant(refs)
    )
    rgb, ab = out["rgb"].numpy(), out["ab"].numpy()
    assert rgb.shape == (2, 37, 53, 3) and rgb.dtype == np.uint8
    assert ab.shape == (2, 37, 53, 2) and ab.dtype == np.float32
    for i in range(2):
        expected = colorizer.colorize(grays[i], reference=refs[i])
        assert _mean_abs(rgb[i], expected) < 1.0
    # The two references give two different colourings (the batch is not mixed up).
    assert _mean_abs(rgb[0], colorizer.colorize(grays[0], reference=refs[1])) > 0
    # ab is the chroma of rgb; L is the input's.
    lab = color.rgb_to_lab(rgb.astype(np.float32) / 255.0).numpy()
    assert _mean_abs(lab[..., 1:], ab) < 1.0
    l_in = color.rgb_to_lab(np.repeat(grays[..., None], 3, -1) / 255.0).numpy()[..., 0]
    assert _mean_abs(lab[..., 0], l_in) < 0.5


def test_colorize_bytes_round_trip_mixed_sizes_and_formats(loaded, colorizer):
    gray0 = _gray(37, 53, seed=5)
    photo1 = synthetic_photo(45, 29, 6)  # A colour photo given as the "gray" image.
    ref0, ref1 = synthetic_photo(40, 40, 7), synthetic_photo(30, 50, 8)
    ref1_gif = _encode(ref1, "GIF")
    out = loaded.signatures["colorize_bytes"](
        gray_bytes=tf.constant([_encode(gray0), _encode(photo1, "BMP")]),
        reference_bytes=tf.constant([_encode(ref0, "JPEG"), ref1_gif]),
    )["rgb_png_bytes"].numpy()
    assert out.shape == (2,)
    images = [Image.open(io.BytesIO(png)) for png in out]
    assert [im.format for im in images] == ["PNG", "PNG"]
    assert [im.size for im in images] == [(53, 37), (29, 45)]
    expected0 = colorizer.colorize(
        gray0, reference=np.asarray(Image.open(io.BytesIO(_encode(ref0, "JPEG"))))
    )
    expected1 = colorizer.colorize(
        photo1, reference=Image.open(io.BytesIO(ref1_gif)).convert("RGB")
    )
    assert _mean_abs(np.asarray(images[0]), expected0) < 1.0
    assert _mean_abs(np.asarray(images[1]), expected1) < 1.0


def test_colorize_bytes_rejects_garbage(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["colorize_bytes"](
            gray_bytes=tf.constant([b"not an image"]),
            reference_bytes=tf.constant([_encode(synthetic_photo(16, 16, 0))]),
        )


def test_warmup_requests_parse_and_replay(saved_model_dir, loaded):
    logs = saved_model_lib.read_warmup(saved_model_dir)
    requests = {log.predict_log.request.model_spec.signature_name: log for log in logs}
    assert set(requests) == {"serving_default", "colorize_bytes"}
    for name, log in requests.items():
        request = log.predict_log.request
        assert request.model_spec.name == "colorizer"
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = loaded.signatures[name](
            **{k: tf.constant(v) for k, v in inputs.items()}
        )
        if name == "serving_default":
            assert inputs["gray"].shape == (1, 64, 64, 1)
            assert outputs["rgb"].shape == (1, 64, 64, 3)
        else:
            png = outputs["rgb_png_bytes"].numpy()[0]
            assert Image.open(io.BytesIO(png)).size == (64, 64)


# ----------------------------------------- SavedModel, loaded as TF Serving does


def test_session_path_serving_default_matches_colorizer(
    serving_session, loaded, colorizer
):
    grays = np.stack([_gray(37, 53, seed=1), _gray(37, 53, seed=2)])[..., None]
    refs = np.stack([synthetic_photo(40, 44, 3), synthetic_photo(40, 44, 4)])
    out = _session_run(serving_session, "serving_default", gray=grays, reference=refs)
    rgb, ab = out["rgb"], out["ab"]
    assert rgb.shape == (2, 37, 53, 3) and rgb.dtype == np.uint8
    assert ab.shape == (2, 37, 53, 2) and ab.dtype == np.float32
    for i in range(2):  # The trained weights, restored: the Colorizer's output.
        assert _max_abs(rgb[i], colorizer.colorize(grays[i, ..., 0], refs[i])) <= 1
    eager = loaded.signatures["serving_default"](
        gray=tf.constant(grays), reference=tf.constant(refs)
    )
    assert _max_abs(rgb, eager["rgb"]) <= 1
    assert _mean_abs(ab, eager["ab"]) < 1e-3


def test_session_path_colorize_bytes_matches_colorizer(serving_session, colorizer):
    gray0, photo1 = _gray(37, 53, seed=5), synthetic_photo(45, 29, 6)
    ref0, ref1 = synthetic_photo(40, 40, 7), synthetic_photo(30, 50, 8)
    out = _session_run(
        serving_session,
        "colorize_bytes",
        gray_bytes=np.array([_encode(gray0), _encode(photo1, "BMP")], dtype=object),
        reference_bytes=np.array([_encode(ref0), _encode(ref1)], dtype=object),
    )["rgb_png_bytes"]
    assert out.shape == (2,)
    images = [np.asarray(Image.open(io.BytesIO(png))) for png in out]
    assert _max_abs(images[0], colorizer.colorize(gray0, reference=ref0)) <= 1
    assert _max_abs(images[1], colorizer.colorize(photo1, reference=ref1)) <= 1


def test_session_path_replays_every_warmup_record(
    saved_model_dir, serving_session, colorizer
):
    logs = saved_model_lib.read_warmup(saved_model_dir)
    assert len(logs) == 2
    gray, ref = saved_model_lib.warmup_images()
    expected = colorizer.colorize(gray[..., 0], reference=ref)
    for log in logs:
        request = log.predict_log.request
        name = request.model_spec.signature_name
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = _session_run(serving_session, name, **inputs)
        if name == "serving_default":
            rgb = outputs["rgb"][0]
        else:
            assert name == "colorize_bytes"
            rgb = np.asarray(Image.open(io.BytesIO(outputs["rgb_png_bytes"][0])))
        assert rgb.shape == (64, 64, 3)
        assert _max_abs(rgb, expected) <= 1, name


def test_session_path_mobile_ab_matches_loaded(serving_session, loaded):
    gray = _gray(32, 32, seed=11)[None, ..., None]
    ref = synthetic_photo(32, 32, 12)[None]
    ab = _session_run(serving_session, "mobile_ab", gray=gray, reference=ref)["ab"]
    eager = loaded.mobile_ab(gray=tf.constant(gray), reference=tf.constant(ref))
    assert ab.shape == (1, 32, 32, 2)
    assert _mean_abs(ab, eager["ab"]) < 1e-4


def test_saved_model_cli_run(saved_model_dir, colorizer, tmp_path):
    """The deployment check of BUILD.md: ``saved_model_cli run`` on the export."""
    gray, ref = _gray(30, 26, seed=13), synthetic_photo(20, 24, 14)
    np.save(tmp_path / "g.npy", gray[None, ..., None])
    np.save(tmp_path / "r.npy", ref[None])
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    command = [str(cli)] if cli.is_file() else [sys.executable, "-m", _CLI_MODULE]
    command += ["run", "--dir", str(saved_model_dir), "--tag_set", "serve"]
    command += ["--signature_def", "serving_default", "--outdir", "out"]
    command += ["--inputs", "gray=g.npy;reference=r.npy"]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Result for output key rgb:" in result.stdout
    assert "Result for output key ab:" in result.stdout
    assert np.load(tmp_path / "out" / "ab.npy").shape == (1, 30, 26, 2)
    rgb = np.load(tmp_path / "out" / "rgb.npy")
    assert _max_abs(rgb[0], colorizer.colorize(gray, reference=ref)) <= 1


def test_client_saved_model_fails_where_tf_serving_would(tmp_path):
    """The client's session path reports an export that TF Serving could not run.

    ``tf.saved_model.save`` of a ``tf.Module`` holding a Keras 3 layer (what
    this project exported before) restores copies (``Variable_N``) of the
    variables that its signature reads (keras-team/keras#20095, Keras 3.15):
    ``tf.saved_model.load`` runs it, TF Serving and the client do not.
    """
    import keras

    class Holder(tf.Module):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)
            self.dense.build((None, 3))

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def serve(self, x):
            return {"y": self.dense(x)}

    holder = Holder()
    path = tmp_path / "broken"
    tf.saved_model.save(holder, str(path), signatures={"serving_default": holder.serve})
    x = [[1.0, 2.0, 3.0]]
    eager = tf.saved_model.load(str(path)).signatures["serving_default"](
        x=tf.constant(x)
    )
    np.testing.assert_allclose(eager["y"], holder.dense(tf.constant(x)), rtol=1e-6)
    reply = client.LocalServer(path).predict_rest({"instances": [{"x": x[0]}]})
    assert "Could not find variable" in reply.get("error", ""), reply
    assert reply["error"].startswith("the model failed (FailedPreconditionError)")


# --------------------------------------------------------------- versioning


@pytest.fixture
def fake_save(monkeypatch):
    """Replaces the (slow) SavedModel write with a marker file; counts calls."""
    calls = []

    def save(module, path):
        calls.append(path)
        pathlib.Path(path, "saved_model.pb").write_text(f"export {len(calls)}")

    monkeypatch.setattr(saved_model_lib, "save_module", save)
    return calls


def _listing(base):
    return sorted(p.name for p in pathlib.Path(base).iterdir())


def test_versions_are_numbered_and_never_overwritten(tmp_path, fake_save):
    base = tmp_path / "model"
    assert saved_model_lib.export_saved_model(None, base) == base / "1"
    (base / "notes").mkdir()  # Non-numeric folders do not count as versions.
    (base / "7").mkdir()
    assert saved_model_lib.existing_versions(base) == [1, 7]
    assert saved_model_lib.export_saved_model(None, base) == base / "8"
    assert (base / "8" / "assets.extra" / saved_model_lib.WARMUP_FILE).is_file()
    assert oct((base / "8").stat().st_mode & 0o777) != oct(0o700)  # Not private.
    with pytest.raises(saved_model_lib.ExportError, match="exists.*--overwrite"):
        saved_model_lib.export_saved_model(None, base, version=8)
    assert (base / "8" / "saved_model.pb").read_text() == "export 2"
    assert _listing(base) == ["1", "7", "8", "notes"]  # No temporary folder left.


def test_overwrite_replaces_atomically(tmp_path, fake_save):
    base = tmp_path / "model"
    saved_model_lib.export_saved_model(None, base, version=3)
    (base / "3" / "stale").write_text("from the old export")
    path = saved_model_lib.export_saved_model(None, base, version=3, overwrite=True)
    assert (path / "saved_model.pb").read_text() == "export 2"
    assert not (path / "stale").exists()
    assert _listing(base) == ["3"]


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    base = tmp_path / "model"

    def broken_save(module, path):
        pathlib.Path(path, "saved_model.pb").write_text("half written")
        raise RuntimeError("disk full")

    monkeypatch.setattr(saved_model_lib, "save_module", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        saved_model_lib.export_saved_model(None, base)
    assert not base.exists()  # Not even the base folder it created.
    base.mkdir()
    (base / "2").mkdir()
    with pytest.raises(RuntimeError, match="disk full"):
        saved_model_lib.export_saved_model(None, base)
    assert _listing(base) == ["2"]


def test_failed_overwrite_keeps_the_old_version(tmp_path, fake_save, monkeypatch):
    base = tmp_path / "model"
    saved_model_lib.export_saved_model(None, base, version=1)

    def broken_warmup(path, model_name):
        raise OSError("no space left")

    monkeypatch.setattr(saved_model_lib, "write_warmup", broken_warmup)
    with pytest.raises(OSError, match="no space"):
        saved_model_lib.export_saved_model(None, base, version=1, overwrite=True)
    assert (base / "1" / "saved_model.pb").read_text() == "export 1"
    assert _listing(base) == ["1"]


def test_missing_weights_are_reported(tmp_path):
    base = tmp_path / "model"
    with pytest.raises(ModelPathError, match="nowhere: not a model .*expected"):
        saved_model_lib.export_from_weights(tmp_path / "nowhere", base)
    assert not base.exists()


def test_export_command_success_line(tmp_path, tiny_workdir, fake_save, capsys):
    """``attention-colorize-export saved_model``'s work, the SavedModel write faked."""
    code = cli.export_saved_model(str(tiny_workdir), str(tmp_path / "m"), version=4)
    out = capsys.readouterr().out
    assert code == 0 and len(fake_save) == 1
    assert re.fullmatch(r"exported .*/m/4 \(\d+\.\d MB\) in \d+ s\n", out), out
    assert _listing(tmp_path / "m") == ["4"]
    code = cli.export_saved_model(str(tiny_workdir), str(tmp_path / "m"), version=4)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error:") and "--overwrite" in err


@pytest.mark.parametrize(
    "command, args",
    [
        (
            ["export/saved_model.py"],
            ["--weights=/nonexistent/run", "--export_dir={tmp}/m"],
        ),
        (["export/tflite.py"], ["--saved_model={tmp}/none", "--output={tmp}/m.tflite"]),
        (
            ["-m", "attention_colorization.export", "tflite"],
            ["--weights={tmp}", "--output={tmp}/m.tflite"],
        ),
        (
            ["export/client.py"],
            [f"--gray={DEMO / 'example_gray.png'}", "--output=o.png"]
            + [f"--reference={DEMO / 'example_reference.png'}"]
            + ["--saved_model={tmp}/none"],
        ),
    ],
)
def test_entry_points_fail_with_one_line(tmp_path, command, args):
    """The clone's thin scripts and the package command: one line, nothing written."""
    cmd = [
        sys.executable,
        *(str(ROOT / c) if c.endswith(".py") else c for c in command),
    ]
    cmd += [a.format(tmp=tmp_path) for a in args]
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # Nothing written.


# ------------------------------------------------------------------- client


@pytest.fixture(scope="module")
def client_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("client")
    Image.fromarray(_gray(41, 35, seed=9)).save(root / "gray.png")
    Image.fromarray(synthetic_photo(50, 60, 10)).save(root / "ref.jpg", quality=95)
    return root


def _expected_png(loaded, root):
    out = loaded.signatures["colorize_bytes"](
        gray_bytes=tf.constant([(root / "gray.png").read_bytes()]),
        reference_bytes=tf.constant([(root / "ref.jpg").read_bytes()]),
    )
    return np.asarray(Image.open(io.BytesIO(out["rgb_png_bytes"].numpy()[0])))


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_saved_model_mode(
    client_inputs, saved_model_dir, loaded, protocol, capsys
):
    output = client_inputs / f"out_{protocol}.png"
    code = client.run(
        [
            f"--gray={client_inputs / 'gray.png'}",
            f"--reference={client_inputs / 'ref.jpg'}",
            f"--output={output}",
            f"--saved_model={saved_model_dir}",
            f"--protocol={protocol}",
        ]
    )
    assert code == 0, capsys.readouterr().err
    image = np.asarray(Image.open(output))
    assert image.shape == (41, 35, 3)
    np.testing.assert_array_equal(image, _expected_png(loaded, client_inputs))
    assert not [p for p in client_inputs.iterdir() if p.name.endswith(".part")]


class _RestHandler(http.server.BaseHTTPRequestHandler):
    server_version = "FakeServing/1"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.server.paths.append(self.path)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        reply = self.server.local.predict_rest(body)
        data = json.dumps(reply).encode()
        self.send_response(400 if "error" in reply else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def rest_server(saved_model_dir):
    """A stand-in for TF Serving's REST API on localhost, answered by the SavedModel."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RestHandler)
    server.local = client.local_server(saved_model_dir)
    server.paths, server.bodies = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def grpc_server(saved_model_dir):
    """A stand-in for TF Serving's gRPC PredictionService on localhost."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    local = client.local_server(saved_model_dir)
    seen = []

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (gRPC's naming)
            seen.append(request)
            return local.predict_grpc(request)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        Servicer(), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", seen
    server.stop(None)


def test_client_rest_over_http(client_inputs, rest_server, loaded):
    gray = (client_inputs / "gray.png").read_bytes()
    ref = (client_inputs / "ref.jpg").read_bytes()
    server = f"http://127.0.0.1:{rest_server.server_address[1]}"
    png = client.predict_rest(server, "colorizer", gray, ref, timeout=60)
    assert rest_server.paths[-1] == "/v1/models/colorizer:predict"
    body = rest_server.bodies[-1]
    assert body["signature_name"] == "colorize_bytes"
    assert base64.b64decode(body["instances"][0]["gray_bytes"]["b64"]) == gray
    image = np.asarray(Image.open(io.BytesIO(png)))
    np.testing.assert_array_equal(image, _expected_png(loaded, client_inputs))
    client.predict_rest(server, "colorizer", gray, ref, version=3)
    assert rest_server.paths[-1] == "/v1/models/colorizer/versions/3:predict"


def test_client_rest_reports_server_errors(client_inputs, rest_server, capsys):
    (client_inputs / "garbage.png").write_bytes(b"not an image at all")
    code = client.run(
        [
            f"--gray={client_inputs / 'garbage.png'}",
            f"--reference={client_inputs / 'ref.jpg'}",
            f"--output={client_inputs / 'never.png'}",
            f"--server=http://127.0.0.1:{rest_server.server_address[1]}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error:") and "HTTP 400" in err
    assert len(err.strip().splitlines()) == 1
    assert not (client_inputs / "never.png").exists()


def test_client_checks_the_output_before_any_request(
    client_inputs, rest_server, capsys
):
    requests_before = len(rest_server.paths)
    code = client.run(
        [
            f"--gray={client_inputs / 'gray.png'}",
            f"--reference={client_inputs / 'ref.jpg'}",
            f"--output={client_inputs / 'out.psd'}",
            f"--server=http://127.0.0.1:{rest_server.server_address[1]}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "cannot write image format '.psd'" in err
    assert len(err.strip().splitlines()) == 1
    assert len(rest_server.paths) == requests_before  # nothing was sent
    assert not (client_inputs / "out.psd").exists()


def test_client_grpc(client_inputs, grpc_server, loaded, capsys):
    address, seen = grpc_server
    output = client_inputs / "out_grpc.jpg"  # Re-encoded from the PNG reply.
    code = client.run(
        [
            f"--gray={client_inputs / 'gray.png'}",
            f"--reference={client_inputs / 'ref.jpg'}",
            f"--output={output}",
            "--protocol=grpc",
            f"--server={address}",
            "--model_label=stable",
        ]
    )
    assert code == 0, capsys.readouterr().err
    request = seen[-1]
    assert request.model_spec.name == "colorizer"
    assert request.model_spec.signature_name == "colorize_bytes"
    assert request.model_spec.version_label == "stable"
    image = Image.open(output)
    assert image.format == "JPEG" and image.size == (35, 41)
    assert _mean_abs(np.asarray(image), _expected_png(loaded, client_inputs)) < 3.0


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_unreachable_server(client_inputs, protocol, capsys):
    port = _closed_port()
    server = f"http://127.0.0.1:{port}" if protocol == "rest" else f"127.0.0.1:{port}"
    code = client.run(
        [
            f"--gray={client_inputs / 'gray.png'}",
            f"--reference={client_inputs / 'ref.jpg'}",
            f"--output={client_inputs / 'unreachable.png'}",
            f"--protocol={protocol}",
            f"--server={server}",
            "--timeout=10",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: cannot reach TF Serving") and str(port) in err
    assert len(err.strip().splitlines()) == 1
    assert not (client_inputs / "unreachable.png").exists()


def test_client_missing_input(client_inputs, capsys):
    code = client.run(
        [
            f"--gray={client_inputs / 'missing.png'}",
            f"--reference={client_inputs / 'ref.jpg'}",
            f"--output={client_inputs / 'x.png'}",
            "--server=http://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "missing.png: no such file" in err


# ------------------------------------------------------------------ serving


def test_serving_config_template_parses():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    text = (ROOT / "export" / "serving" / "models.config").read_text()
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == "colorizer" and model.model_platform == "tensorflow"
    assert model.base_path == "/models/colorizer"
    assert set(model.version_labels) == {"stable", "canary"}
    assert len(model.model_version_policy.specific.versions) == 2

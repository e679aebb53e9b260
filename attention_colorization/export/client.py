r"""Colourises one photo with the exported model: TF Serving (REST or gRPC) or a SavedModel.

    # TF Serving, REST (port 8501) or gRPC (port 8500):
    attention-colorize-client --gray=old.jpg --reference=ref.jpg --output=out.png
    attention-colorize-client --gray=old.jpg --reference=ref.jpg --output=out.png \
        --protocol=grpc --server=localhost:8500

    # No server: the same request, answered in-process by a SavedModel version
    # folder loaded the way TF Serving loads it (graph-mode session, restore op).
    attention-colorize-client --gray=old.jpg --reference=ref.jpg --output=out.png \
        --saved_model=/models/colorizer/1 [--protocol=rest|grpc]

(``python export/client.py`` from a clone runs the same command.)

Every mode sends the encoded files to the ``colorize_bytes`` signature and
writes the returned PNG (re-encoded when ``--output`` names another format),
atomically. Errors are one line on stderr and a non-zero exit status.

The REST mode needs only the standard library; gRPC needs
``tensorflow-serving-api`` (which brings ``grpcio``).
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import json
import os
import pathlib
import sys
import urllib.error
import urllib.request

from attention_colorization.atomic import atomic_write_bytes
from attention_colorization.weights_path import (
    SAVED_MODEL,
    ModelPathError,
    resolve_weights,
)

BYTES_SIGNATURE = "colorize_bytes"
OUTPUT_KEY = "rgb_png_bytes"
DEFAULT_MODEL_NAME = "colorizer"
DEFAULT_REST_SERVER = "http://localhost:8501"
DEFAULT_GRPC_SERVER = "localhost:8500"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class ClientError(RuntimeError):
    """A failed request; the message is one line for the user."""


# ----------------------------------------------------------------- requests


def read_file(path: os.PathLike) -> bytes:
    """The bytes of an input image file (checked to exist and be non-empty)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ClientError(f"{path}: no such file")
    if path.is_dir():
        raise ClientError(f"{path}: is a folder, not an image")
    data = path.read_bytes()
    if not data:
        raise ClientError(f"{path}: empty file (0 bytes)")
    return data


def rest_url(server: str, model_name: str, version=None, label=None) -> str:
    """``{server}/v1/models/{name}[/versions/N | /labels/L]:predict``."""
    server = server if "://" in server else f"http://{server}"
    url = f"{server.rstrip('/')}/v1/models/{model_name}"
    if version is not None:
        url += f"/versions/{int(version)}"
    elif label:
        url += f"/labels/{label}"
    return url + ":predict"


def rest_payload(gray: bytes, reference: bytes) -> dict:
    """The REST request body (row format, binary inputs as ``{"b64": ...}``)."""

    def b64(data: bytes) -> dict:
        return {"b64": base64.b64encode(data).decode("ascii")}

    return {
        "signature_name": BYTES_SIGNATURE,
        "instances": [{"gray_bytes": b64(gray), "reference_bytes": b64(reference)}],
    }


def parse_rest_response(body: dict) -> bytes:
    """The PNG bytes of a REST ``predict`` response (row or column format)."""
    if "error" in body:
        raise ClientError(f"server error: {_one_line(body['error'])}")
    if "predictions" in body:
        value = body["predictions"][0]
    elif "outputs" in body:
        value = body["outputs"]
        value = value[0] if isinstance(value, list) else value
    else:
        raise ClientError(f"unexpected response (keys {sorted(body)})")
    if isinstance(value, dict) and OUTPUT_KEY in value:  # Several outputs: named.
        value = value[OUTPUT_KEY]
        value = value[0] if isinstance(value, list) else value
    if not isinstance(value, dict) or "b64" not in value:
        raise ClientError("unexpected response: no base64 PNG in the predictions")
    return base64.b64decode(value["b64"])


def grpc_request(
    gray: bytes, reference: bytes, model_name: str, version=None, label=None
):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` for ``colorize_bytes``."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = BYTES_SIGNATURE
    if version is not None:
        request.model_spec.version.value = int(version)
    elif label:
        request.model_spec.version_label = label
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
    )
    for key, data in (("gray_bytes", gray), ("reference_bytes", reference)):
        request.inputs[key].CopyFrom(
            tensor_pb2.TensorProto(
                dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=[data]
            )
        )
    return request


def parse_grpc_response(response) -> bytes:
    """The PNG bytes of a ``PredictResponse``."""
    if OUTPUT_KEY not in response.outputs:
        raise ClientError(f"unexpected response (outputs {sorted(response.outputs)})")
    values = response.outputs[OUTPUT_KEY].string_val
    if not values:
        raise ClientError("unexpected response: empty output")
    return bytes(values[0])


# ------------------------------------------------------------------ transport


def predict_rest(
    server: str,
    model_name: str,
    gray: bytes,
    reference: bytes,
    timeout: float = 60.0,
    version=None,
    label=None,
) -> bytes:
    """POSTs the JSON request to TF Serving's REST API; returns the PNG bytes."""
    url = rest_url(server, model_name, version, label)
    data = json.dumps(rest_payload(gray, reference)).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = json.loads(reply.read().decode())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise ClientError(f"{url}: HTTP {error.code}: {_one_line(detail)}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ClientError(
            f"cannot reach TF Serving at {url}: {_one_line(reason)}"
        ) from None
    except ValueError as error:
        raise ClientError(
            f"{url}: the reply is not JSON ({_one_line(error)})"
        ) from None
    return parse_rest_response(body)


def predict_grpc(
    server: str,
    model_name: str,
    gray: bytes,
    reference: bytes,
    timeout: float = 60.0,
    version=None,
    label=None,
) -> bytes:
    """Calls ``PredictionService/Predict`` over gRPC; returns the PNG bytes."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    target = server.split("://", 1)[-1].rstrip("/")
    request = grpc_request(gray, reference, model_name, version, label)
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as error:
            code = error.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ClientError(
                    f"cannot reach TF Serving at {target} (gRPC {code.name}): "
                    f"{_one_line(error.details())}"
                ) from None
            raise ClientError(
                f"{target}: gRPC {code.name}: {_one_line(error.details())}"
            ) from None
    return parse_grpc_response(response)


class LocalServer:
    """A SavedModel answering TF Serving's REST and gRPC ``predict`` in-process.

    The SavedModel is loaded the way TF Serving's C++ loader (SavedModelBundle)
    and ``saved_model_cli run`` load it: its ``serve`` MetaGraph imported into
    a graph-mode session, the checkpoint restored by the MetaGraph's restore
    op, then each request run by ``session.run`` on the signature's output
    tensor names with its input tensor names fed. An export whose signatures
    read variables that the restore op does not write fails here as it would
    in TF Serving (``tf.saved_model.load`` binds variables through the object
    graph instead and would hide that).

    It implements the subset of TF Serving's request/response encoding that
    the client uses (row or column format, ``{"b64": ...}`` binaries, outputs
    whose name ends in ``_bytes`` base64-encoded), so that ``--saved_model``
    runs the very request that a server would get. Tests also put it behind
    real HTTP and gRPC servers on localhost.

    Args:
        saved_model_dir: an exported version folder (``BASE/N``).
    """

    def __init__(self, saved_model_dir: os.PathLike):
        try:
            path = resolve_weights(saved_model_dir, accept=(SAVED_MODEL,)).path
        except ModelPathError as error:
            raise ClientError(str(error)) from None
        import tensorflow as tf

        self._tf = tf
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph)
        logger = tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")  # TF 1 loader: a deprecation warning, restore info.
        try:
            with self._graph.as_default():
                meta_graph = tf.compat.v1.saved_model.loader.load(
                    self._session, [tf.saved_model.SERVING], str(path)
                )
        except (RuntimeError, ValueError, OSError, tf.errors.OpError) as error:
            self._session.close()
            raise ClientError(f"{path}: cannot load: {_one_line(error)}") from None
        finally:
            logger.setLevel(level)
        self.signatures = {  # Without "__saved_model_init_op" (not a signature).
            k: v for k, v in meta_graph.signature_def.items() if not k.startswith("__")
        }

    def _signature(self, name: str):
        name = name or "serving_default"
        if name not in self.signatures:
            raise ClientError(f"no signature {name!r} (have {sorted(self.signatures)})")
        return self.signatures[name]

    def _run(self, signature_name: str, inputs: dict) -> dict:
        """Feeds ``inputs`` (by signature key) to the signature's input tensors."""
        import numpy as np

        tf = self._tf
        signature = self._signature(signature_name)
        missing = set(signature.inputs) - set(inputs)
        if missing:
            raise ClientError(f"missing inputs {sorted(missing)}")
        feed = {}
        try:
            for key, info in signature.inputs.items():
                dtype = tf.dtypes.as_dtype(info.dtype)
                numpy_dtype = object if dtype == tf.string else dtype.as_numpy_dtype
                feed[info.name] = np.asarray(inputs[key], dtype=numpy_dtype)
            fetches = {key: info.name for key, info in signature.outputs.items()}
            return self._session.run(fetches, feed_dict=feed)
        except tf.errors.InvalidArgumentError as error:
            raise ClientError(f"bad request: {_op_error_line(error)}") from None
        except (ValueError, TypeError) as error:  # A value that cannot be fed.
            raise ClientError(f"bad request: {_one_line(error)}") from None
        except tf.errors.OpError as error:
            raise ClientError(
                f"the model failed ({type(error).__name__}): {_op_error_line(error)}"
            ) from None

    def predict_rest(self, body: dict) -> dict:
        """A REST ``predict`` body (dict) -> the response body (dict)."""
        import numpy as np

        def decode(value):
            if isinstance(value, dict) and set(value) == {"b64"}:
                return base64.b64decode(value["b64"])
            if isinstance(value, list):
                return [decode(v) for v in value]
            return value

        def encode(name, value):
            if name.endswith("_bytes") and isinstance(value, bytes):
                return {"b64": base64.b64encode(value).decode("ascii")}
            if isinstance(value, np.ndarray):
                return [encode(name, v) for v in value]
            return value.item() if isinstance(value, np.generic) else value

        try:
            signature = body.get("signature_name", "serving_default")
            if "instances" in body:
                rows = body["instances"]
                inputs = {k: [decode(r[k]) for r in rows] for k in rows[0]}
            else:
                inputs = {k: decode(v) for k, v in body["inputs"].items()}
            outputs = self._run(signature, inputs)
        except ClientError as error:
            return {"error": str(error)}
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            return {"error": f"malformed request: {_one_line(error)}"}
        if "instances" not in body:
            return {"outputs": {k: encode(k, v) for k, v in outputs.items()}}
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return {"predictions": [encode(name, v) for v in value]}
        batch = len(next(iter(outputs.values())))
        return {
            "predictions": [
                {k: encode(k, v[i]) for k, v in outputs.items()} for i in range(batch)
            ]
        }

    def predict_grpc(self, request):
        """A ``PredictRequest`` -> ``PredictResponse`` (raises ClientError)."""
        from tensorflow_serving.apis import predict_pb2

        tf = self._tf
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = self._run(request.model_spec.signature_name, inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response


@functools.lru_cache(maxsize=2)
def _local_server(path: str) -> LocalServer:
    return LocalServer(path)


def local_server(saved_model_dir: os.PathLike) -> LocalServer:
    """A :class:`LocalServer`, loaded once per folder in this process."""
    return _local_server(str(pathlib.Path(saved_model_dir).resolve()))


def predict_local(
    saved_model_dir: os.PathLike,
    protocol: str,
    gray: bytes,
    reference: bytes,
    model_name: str = DEFAULT_MODEL_NAME,
) -> bytes:
    """Builds the REST or gRPC request, serialises it, answers it in-process."""
    server = local_server(saved_model_dir)
    if protocol == "rest":
        body = json.loads(json.dumps(rest_payload(gray, reference)))
        return parse_rest_response(json.loads(json.dumps(server.predict_rest(body))))
    from tensorflow_serving.apis import predict_pb2

    wire = grpc_request(gray, reference, model_name).SerializeToString()
    response = server.predict_grpc(predict_pb2.PredictRequest.FromString(wire))
    wire = response.SerializeToString()
    return parse_grpc_response(predict_pb2.PredictResponse.FromString(wire))


# --------------------------------------------------------------------- output


def check_output(path: os.PathLike, overwrite: bool = True) -> str:
    """The Pillow format of ``path``; raises ClientError before any request is sent
    for an existing file (unless ``overwrite``) or a suffix Pillow cannot write."""
    from attention_colorization.imageio import ImageError, output_format

    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise ClientError(f"{path}: exists (use --overwrite to replace it)")
    try:
        return output_format(path)
    except ImageError as error:
        raise ClientError(str(error)) from None


def write_output(png: bytes, path: os.PathLike, overwrite: bool = True) -> None:
    """Writes the PNG (re-encoded for another suffix) to a temporary file, then renames."""
    fmt = check_output(path, overwrite)
    path = pathlib.Path(path)
    data = png
    if fmt != "PNG":
        from PIL import Image

        buffer = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").save(buffer, format=fmt)
        data = buffer.getvalue()
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise ClientError(f"{path}: cannot write ({_one_line(error)})") from None


def _op_error_line(error) -> str:
    """The first informative line of a TensorFlow ``OpError`` raised by a session.

    Session errors start with a bare "Graph execution error:" line; the cause
    follows.
    """
    lines = [line.strip() for line in str(error.message).splitlines()]
    lines = [line for line in lines if line and line != "Graph execution error:"]
    return _one_line("\n".join(lines) or error.message)


def _one_line(value) -> str:
    lines = [line.strip() for line in str(value).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(value).__name__


# ----------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Colourise a gray photo with the exported colouriser."
    )
    parser.add_argument("--gray", required=True, help="the photo to colourise")
    parser.add_argument("--reference", required=True, help="the colour reference")
    parser.add_argument("--output", required=True, help="where to write the result")
    parser.add_argument(
        "--server",
        default=None,
        help=f"TF Serving address (default {DEFAULT_REST_SERVER} for REST, "
        f"{DEFAULT_GRPC_SERVER} for gRPC)",
    )
    parser.add_argument("--model_name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--protocol", choices=("rest", "grpc"), default="rest")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--model_version", type=int, default=None, help="a version number"
    )
    group.add_argument(
        "--model_label", default=None, help="a version label (e.g. stable)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--saved_model",
        default=None,
        help="answer in-process with this SavedModel version folder, loaded as "
        "TF Serving loads it (no server)",
    )
    parser.add_argument(
        "--no_overwrite", action="store_true", help="refuse to replace --output"
    )
    return parser.parse_args(argv)


def run(argv=None) -> int:
    """The command; returns the exit status."""
    args = parse_args(argv)
    try:
        check_output(args.output, overwrite=not args.no_overwrite)
        gray = read_file(args.gray)
        reference = read_file(args.reference)
        if args.saved_model:
            png = predict_local(
                args.saved_model, args.protocol, gray, reference, args.model_name
            )
        elif args.protocol == "rest":
            png = predict_rest(
                args.server or DEFAULT_REST_SERVER,
                args.model_name,
                gray,
                reference,
                args.timeout,
                args.model_version,
                args.model_label,
            )
        else:
            png = predict_grpc(
                args.server or DEFAULT_GRPC_SERVER,
                args.model_name,
                gray,
                reference,
                args.timeout,
                args.model_version,
                args.model_label,
            )
        write_output(png, args.output, overwrite=not args.no_overwrite)
    except ClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


def main(argv=None) -> None:
    """The ``attention-colorize-client`` console script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # For --saved_model.
    sys.exit(run(argv))


if __name__ == "__main__":
    main()

"""Static checks on verified ONNX bytes before ONNX Runtime builds a session.

External-data tensors are refused outright (reference/audit_security.md §4.4: onnx/ORT
external-data path traversal CVEs): the locked package is a single self-contained file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import onnx

from device_ai.errors import ModelIntegrityError
from device_ai.model.package.manifest import ModelManifest


def _sparse(tensor: onnx.SparseTensorProto) -> Iterator[onnx.TensorProto]:
    yield tensor.values
    yield tensor.indices


def _node_tensors(nodes: Iterable[onnx.NodeProto]) -> Iterator[onnx.TensorProto]:
    """Every tensor held in the attributes of ``nodes``, sub-graphs included."""
    for node in nodes:
        for attribute in node.attribute:
            yield from _attribute_tensors(attribute)


def _attribute_tensors(attribute: onnx.AttributeProto) -> Iterator[onnx.TensorProto]:
    if attribute.HasField("t"):
        yield attribute.t
    yield from attribute.tensors
    if attribute.HasField("sparse_tensor"):
        yield from _sparse(attribute.sparse_tensor)
    for sparse in attribute.sparse_tensors:
        yield from _sparse(sparse)
    if attribute.HasField("g"):
        yield from _graph_tensors(attribute.g)
    for subgraph in attribute.graphs:
        yield from _graph_tensors(subgraph)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from _sparse(sparse)
    yield from _node_tensors(graph.node)


def model_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of the model: the graph's, those inside model-local functions (nodes and
    default attribute values) and those of training info graphs."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        yield from _node_tensors(function.node)
        # default attribute values of the function (a Constant bound to one reaches ORT too)
        for attribute in function.attribute_proto:
            yield from _attribute_tensors(attribute)
    for info in model.training_info:
        yield from _graph_tensors(info.initialization)
        yield from _graph_tensors(info.algorithm)


def check_onnx_bytes(model_bytes: bytes, manifest: ModelManifest) -> None:
    """Refuse external data, an opset other than the manifest's, or unexpected I/O shapes."""
    try:
        model = onnx.load_model_from_string(model_bytes)
    except Exception as exc:  # onnx raises DecodeError and others; all mean the same here
        raise ModelIntegrityError("model.onnx is not a valid ONNX model", hint="reinstall the model package") from exc
    for tensor in model_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0:
            raise ModelIntegrityError(
                f"model.onnx references external data for tensor {tensor.name!r}; external data is refused",
                hint="the locked package must be one self-contained ONNX file; re-export without external data",
            )
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    if opsets.get("ai.onnx") != manifest.export.opset:
        raise ModelIntegrityError(
            f"model.onnx uses opset {opsets.get('ai.onnx')}, the manifest says {manifest.export.opset}",
            hint="reinstall the model package",
        )
    for declared, values, kind in (
        (manifest.input, model.graph.input, "input"),
        (manifest.output, model.graph.output, "output"),
    ):
        if len(values) != 1 or values[0].name != declared.name:
            raise ModelIntegrityError(f"model.onnx {kind} does not match the manifest", hint="reinstall the model package")
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in values[0].type.tensor_type.shape.dim)
        if dims != tuple(declared.shape):
            raise ModelIntegrityError(
                f"model.onnx {kind} shape {dims} differs from the manifest's fixed shape {tuple(declared.shape)}",
                hint="reinstall the model package",
            )

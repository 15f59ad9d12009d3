"""A vector-search gRPC server built only with PyPI's grpcio, grpcio-tools
and grpcio-reflection, for the probe's interop tests.

Usage: vector_server.py PROTO [--reflection v1alpha|v1|none]

Compiles PROTO (vectors.proto) with grpc_tools, serves VectorSearch on a
free port of 127.0.0.1 with server reflection, prints the port on one line,
and stops when its standard input closes.

Reflection: `v1alpha` (the default) is grpcio-reflection as shipped, which
serves only grpc.reflection.v1alpha; `v1` serves the same servicer under
grpc.reflection.v1 only (the messages are the same on the wire); `none`
serves no reflection.
"""

import importlib
import os
import shutil
import sys
import tempfile
from concurrent import futures

import grpc
from grpc_reflection.v1alpha import reflection
from grpc_tools import protoc


def compile_proto(proto):
    out = tempfile.mkdtemp(prefix="vectors-py-")
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(
        [
            "protoc",
            "-I" + os.path.dirname(proto),
            "-I" + well_known,
            "--python_out=" + out,
            "--grpc_python_out=" + out,
            proto,
        ]
    )
    if rc != 0:
        sys.exit("protoc failed on %s: %d" % (proto, rc))
    sys.path.insert(0, out)
    modules = importlib.import_module("vectors_pb2"), importlib.import_module("vectors_pb2_grpc")
    shutil.rmtree(out, ignore_errors=True)  # loaded: nothing is left behind
    return modules


def serve_v1_reflection(server, service):
    from grpc_reflection.v1alpha import reflection_pb2

    v1 = "grpc.reflection.v1.ServerReflection"
    servicer = reflection.ReflectionServicer((service, v1))
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(v1, {"ServerReflectionInfo": handler}),)
    )


def main():
    proto = os.path.abspath(sys.argv[1])
    args = sys.argv[2:]
    mode = args[args.index("--reflection") + 1] if "--reflection" in args else "v1alpha"
    pb2, pb2_grpc = compile_proto(proto)

    def hits(request):
        return [pb2.Hit(id="doc-%d" % i, score=1.0 / (i + 1)) for i in range(request.top_k)]

    class Servicer(pb2_grpc.VectorSearchServicer):
        def Search(self, request, context):
            return pb2.SearchResponse(hits=hits(request), query=request.query)

        def SearchStream(self, request, context):
            for h in hits(request):
                yield h

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb2_grpc.add_VectorSearchServicer_to_server(Servicer(), server)
    service = pb2.DESCRIPTOR.services_by_name["VectorSearch"].full_name
    if mode == "v1alpha":
        reflection.enable_server_reflection((service, reflection.SERVICE_NAME), server)
    elif mode == "v1":
        serve_v1_reflection(server, service)
    elif mode != "none":
        sys.exit("unknown reflection mode " + mode)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()

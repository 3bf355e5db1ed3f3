"""nas_proto_library: compiles .proto files with Debian's protoc + grpc_cpp_plugin.

Bazel's native proto_library needs @com_google_protobuf, which cannot be
fetched offline, so this macro runs /usr/bin/protoc in a genrule and wraps the
generated sources in a cc_library linked against the system gRPC/protobuf.

Imports are workspace-relative ("proto/nas/v1/job.proto"), and so are the
generated headers ("proto/nas/v1/job.pb.h").
"""

def nas_proto_library(name, srcs, deps = [], grpc_srcs = [], visibility = None):
    """One cc_library `name` with the messages of `srcs` and the services of `grpc_srcs`.

    Args:
      name: the cc_library's name.
      srcs: .proto files in this package; all are compiled to messages.
      deps: other nas_proto_library targets whose protos `srcs` import.
      grpc_srcs: the subset of `srcs` that declares services (gets .grpc.pb.*).
      visibility: visibility of the cc_library.
    """
    pkg = native.package_name()
    outs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += [base + ".pb.h", base + ".pb.cc"]
    for src in grpc_srcs:
        base = src[:-len(".proto")]
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]

    dep_protos = [d + "_protos" for d in deps]
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + dep_protos,
        visibility = visibility,
    )

    cmd = ("/usr/bin/protoc -I. --cpp_out=$(GENDIR) " +
           " ".join(["%s/%s" % (pkg, s) for s in srcs]))
    if grpc_srcs:
        cmd += (" && /usr/bin/protoc -I. --grpc_out=$(GENDIR) " +
                "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin " +
                " ".join(["%s/%s" % (pkg, s) for s in grpc_srcs]))
    native.genrule(
        name = name + "_gen",
        srcs = srcs + dep_protos,
        outs = outs,
        cmd = cmd,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["@system//:grpc"],
        visibility = visibility,
    )

//! Dynamic gRPC calls: any unary or server-streaming method of any service,
//! named at run time (`pkg.Service/Method`), with its request written as
//! JSON, the way grpcurl and ghz call a service they were not built with.
//!
//! The method's descriptors come from one of two sources:
//!
//! - **a `.proto` file**, compiled at run time with protox (no `protoc`);
//!   imports are looked up in the file's directory and the given import
//!   paths, Google's well-known types are built in;
//! - **server reflection**: `grpc.reflection.v1.ServerReflection`, or
//!   `grpc.reflection.v1alpha` when the server has only that: the file
//!   defining the service, then the files it imports, each reply bounded in
//!   size ([`MAX_DESCRIPTOR_BYTES`]), at most [`MAX_DESCRIPTOR_FILES`] files.
//!
//! The request JSON is decoded with the message's descriptor (prost-reflect's
//! canonical JSON mapping; an unknown field is an error). Responses are
//! decoded into dynamic messages, each at most [`MAX_MESSAGE_BYTES`] (tonic's
//! `max_decoding_message_size`). Resolving the method and every call run
//! under the probe's timeout; anything that cannot be resolved is a
//! [`ProbeError::GrpcMethod`] naming the method and why.
//!
//! A unary call is one `e2e` sample (call → response received); a
//! server-streaming call gives `ttft` (call → first message), `itl` (gaps
//! between messages) and `e2e` (call → end of the stream).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
use tracing::Instrument;

use crate::bounds::{Bounds, Progress, Stage};
use crate::conn::Failure;
use crate::grpc::{GrpcPlan, GrpcWorker};
use crate::report::{ErrorKind, Metric, SampleResult, Stats};
use crate::run::Plan;
use crate::target::parse_target;
use crate::{ProbeError, ProbeOptions, ProbeReport, Protocol};

/// The largest reflection reply accepted (one file descriptor and its
/// framing), and the largest `.proto` file read.
pub const MAX_DESCRIPTOR_BYTES: usize = 4 << 20;
/// The most descriptor files fetched by reflection for one method.
pub const MAX_DESCRIPTOR_FILES: usize = 256;
/// The largest response message decoded.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// A gRPC method to call, as `cockpit.toml` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcCall {
    /// `package.Service/Method` (a leading `/` is accepted).
    pub method: String,
    /// The request message in protobuf's JSON mapping.
    pub request_json: String,
    /// Where the descriptors come from.
    pub descriptors: DescriptorSource,
}

/// Where a [`GrpcCall`]'s descriptors come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DescriptorSource {
    /// The server's reflection service (v1, else v1alpha).
    Reflection,
    /// A `.proto` file compiled at run time; imports are resolved in its
    /// directory, then in `import_paths`.
    ProtoFile {
        path: PathBuf,
        import_paths: Vec<PathBuf>,
    },
}

impl DescriptorSource {
    fn describe(&self) -> String {
        match self {
            DescriptorSource::Reflection => "server reflection".to_string(),
            DescriptorSource::ProtoFile { path, .. } => format!("{}", path.display()),
        }
    }
}

/// A method resolved to its descriptors, with its request message built.
#[derive(Debug)]
pub(crate) struct ResolvedCall {
    name: String,
    path: http::uri::PathAndQuery,
    method: MethodDescriptor,
    request: DynamicMessage,
}

impl ResolvedCall {
    fn streaming(&self) -> bool {
        self.method.is_server_streaming()
    }
}

/// Methods of the dynamic call's distributions.
pub(crate) fn method_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "e2e" => {
            "client-side, the configured gRPC method (grpc_method), from the call to the response message received (unary) or to the end of the stream (server streaming), responses decoded with the method's descriptors"
        }
        "ttft" => {
            "client-side, the configured server-streaming gRPC method, from the call to the first response message"
        }
        "itl" => "client-side, gaps between successive response messages of the stream",
        "dns" | "connect" | "tls" => return crate::http::method_text(name),
        _ => return None,
    })
}

fn unresolved(call: &GrpcCall, reason: impl Into<String>) -> ProbeError {
    ProbeError::GrpcMethod {
        method: call.method.clone(),
        reason: reason.into(),
    }
}

/// `pkg.Service/Method` → (`pkg.Service`, `Method`).
fn split_method(method: &str) -> Option<(&str, &str)> {
    let (service, name) = method.strip_prefix('/').unwrap_or(method).split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    (ok(service) && ok(name) && !name.contains('.')).then_some((service, name))
}

/// Call `method` of `url` (`grpc://host:port`, `grpcs://` for TLS) once per
/// sample: its descriptors resolved first (not timed), then `e2e` per call,
/// and for a server-streaming method `ttft` (first message) and `itl` (gaps).
///
/// Set `reuse_connection` to measure calls on a warm channel. A method that
/// cannot be resolved (bad name, no such service or method, a
/// client-streaming method, no reflection, a `.proto` that does not
/// compile, a request that does not fit the message) is an error.
pub async fn probe_grpc_method(
    url: &str,
    call: &GrpcCall,
    opts: &ProbeOptions,
) -> Result<ProbeReport, ProbeError> {
    opts.validate()?;
    let target = Arc::new(parse_target(url, Protocol::Grpc)?);
    let redacted = target.redacted.clone();
    let span =
        tracing::info_span!("probe", target = %redacted, protocol = "grpc", rpc = %call.method);
    let tls = crate::tls_context(&target, opts, &[b"h2"])?;
    let deadline = crate::deadline_of(opts);
    let resolving = resolve(call, &target, tls.as_ref(), opts.timeout);
    let resolved = tokio::select! {
        r = tokio::time::timeout(opts.timeout.saturating_mul(2), resolving) => match r {
            Ok(r) => r?,
            Err(_) => return Err(unresolved(call, format!(
                "its descriptors were not resolved from {} within {:?}",
                call.descriptors.describe(),
                opts.timeout.saturating_mul(2)
            ))),
        },
        _ = opts.cancel.cancelled() => return Err(unresolved(call, "interrupted while resolving its descriptors")),
        _ = tokio::time::sleep_until(deadline) => return Err(unresolved(call, "the run reached its deadline while resolving its descriptors")),
    };
    let plan = Plan::Grpc(GrpcPlan {
        target,
        tls,
        timeout: opts.timeout,
        idle: opts.idle(),
        reuse: opts.reuse_connection,
        prompt: String::new(),
        system_prompt: String::new(),
        max_tokens: 0,
        record_samples: false,
        search: None,
        dynamic: Some(Arc::new(resolved)),
    });
    let stats = crate::run::run(plan, opts, deadline).instrument(span).await;
    Ok(ProbeReport::from_stats(
        redacted,
        Protocol::Grpc,
        stats,
        &method_text,
    ))
}

/// Resolve the method's descriptors and build its request message.
async fn resolve(
    call: &GrpcCall,
    target: &Arc<crate::target::Target>,
    tls: Option<&crate::conn::TlsContext>,
    timeout: Duration,
) -> Result<ResolvedCall, ProbeError> {
    let Some((service, name)) = split_method(&call.method) else {
        return Err(unresolved(call, "not of the form `package.Service/Method`"));
    };
    let pool = match &call.descriptors {
        DescriptorSource::ProtoFile { path, import_paths } => {
            let (path, imports) = (path.clone(), import_paths.clone());
            tokio::task::spawn_blocking(move || pool_from_proto(&path, &imports))
                .await
                .map_err(|e| unresolved(call, format!("compiling the .proto failed: {e}")))?
                .map_err(|r| unresolved(call, r))?
        }
        DescriptorSource::Reflection => {
            let (channel, _) = crate::grpc::connect(target, tls, timeout)
                .await
                .map_err(|f| unresolved(call, f.message))?;
            pool_from_reflection(channel, service, &target.redacted)
                .await
                .map_err(|r| unresolved(call, r))?
        }
    };
    let from = call.descriptors.describe();
    let svc = pool
        .get_service_by_name(service)
        .ok_or_else(|| unresolved(call, format!("{from} defines no service {service}")))?;
    let method = svc
        .methods()
        .find(|m| m.name() == name)
        .ok_or_else(|| unresolved(call, format!("service {service} has no method {name}")))?;
    if method.is_client_streaming() {
        return Err(unresolved(
            call,
            "it is client-streaming; only unary and server-streaming methods are measured",
        ));
    }
    let request =
        request_message(&method.input(), &call.request_json).map_err(|r| unresolved(call, r))?;
    let path = format!("/{service}/{name}")
        .parse()
        .map_err(|e| unresolved(call, format!("not a valid request path: {e}")))?;
    Ok(ResolvedCall {
        name: format!("{service}/{name}"),
        path,
        method,
        request,
    })
}

/// The request message from its JSON form; unknown fields are errors.
fn request_message(desc: &MessageDescriptor, json: &str) -> Result<DynamicMessage, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let m = DynamicMessage::deserialize(desc.clone(), &mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| format!("the request JSON does not fit {}: {e}", desc.full_name()))?;
    Ok(m)
}

/// Compile `path` with protox: imports from its directory, then `imports`.
fn pool_from_proto(path: &Path, imports: &[PathBuf]) -> Result<DescriptorPool, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > MAX_DESCRIPTOR_BYTES as u64 {
        return Err(format!(
            "{} is {size} bytes, more than the {MAX_DESCRIPTOR_BYTES} read",
            path.display()
        ));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let includes = std::iter::once(dir.to_path_buf()).chain(imports.iter().cloned());
    let set = protox::compile([path], includes)
        .map_err(|e| format!("{} does not compile: {e}", path.display()))?;
    DescriptorPool::from_file_descriptor_set(set)
        .map_err(|e| format!("the descriptors of {} are invalid: {e}", path.display()))
}

/// The reflection services tried, newest first.
const REFLECTION_PATHS: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The descriptors of `service` and of every file it imports, by reflection.
async fn pool_from_reflection(
    channel: Channel,
    service: &str,
    what: &str,
) -> Result<DescriptorPool, String> {
    let mut first_error = None;
    for path in REFLECTION_PATHS {
        let mut r = Reflection {
            grpc: tonic::client::Grpc::new(channel.clone())
                .max_decoding_message_size(MAX_DESCRIPTOR_BYTES),
            path: path.parse().expect("static path"),
        };
        match r
            .ask(MessageRequest::FileContainingSymbol(service.to_string()))
            .await
        {
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                first_error.get_or_insert(s);
                continue;
            }
            Err(s) => {
                return Err(format!(
                    "reflection on {what} returned {:?}: {}",
                    s.code(),
                    s.message()
                ));
            }
            Ok(reply) => {
                return r.files_from(reply, service).await.map(|set| {
                    DescriptorPool::from_file_descriptor_set(set)
                        .map_err(|e| format!("the descriptors {what} returned are invalid: {e}"))
                })?;
            }
        }
    }
    let s = first_error
        .map(|s| s.message().to_string())
        .unwrap_or_default();
    Err(format!(
        "{what} serves neither grpc.reflection.v1 nor v1alpha ({s}); give the .proto with grpc_proto"
    ))
}

/// One reflection service (v1 and v1alpha messages are the same on the wire).
struct Reflection {
    grpc: tonic::client::Grpc<Channel>,
    path: http::uri::PathAndQuery,
}

impl Reflection {
    /// One request on its own stream, one reply.
    async fn ask(&mut self, req: MessageRequest) -> Result<MessageResponse, tonic::Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(req),
        };
        let codec =
            tonic_prost::ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default();
        let request = tonic::Request::new(futures_util::stream::iter([req]));
        let mut replies = self
            .grpc
            .streaming(request, self.path.clone(), codec)
            .await?
            .into_inner();
        match replies.message().await? {
            Some(ServerReflectionResponse {
                message_response: Some(MessageResponse::ErrorResponse(e)),
                ..
            }) => Err(tonic::Status::new(e.error_code.into(), e.error_message)),
            Some(ServerReflectionResponse {
                message_response: Some(m),
                ..
            }) => Ok(m),
            _ => Err(tonic::Status::internal("an empty reflection reply")),
        }
    }

    /// The files of `reply`, then those they import, asked for by name
    /// until none is missing; sorted so that each follows its imports.
    async fn files_from(
        &mut self,
        reply: MessageResponse,
        service: &str,
    ) -> Result<FileDescriptorSet, String> {
        let mut files = BTreeMap::new();
        add_files(&mut files, reply, service)?;
        loop {
            let missing: Vec<String> = files
                .values()
                .flat_map(|f: &FileDescriptorProto| f.dependency.iter())
                .filter(|d| !files.contains_key(*d))
                .cloned()
                .collect();
            let Some(name) = missing.into_iter().next() else {
                break;
            };
            if files.len() >= MAX_DESCRIPTOR_FILES {
                return Err(format!(
                    "the service imports more than {MAX_DESCRIPTOR_FILES} files"
                ));
            }
            let reply = self
                .ask(MessageRequest::FileByFilename(name.clone()))
                .await
                .map_err(|s| format!("reflection has no file {name}: {}", s.message()))?;
            add_files(&mut files, reply, &name)?;
            if !files.contains_key(&name) {
                return Err(format!("reflection did not return {name}"));
            }
        }
        Ok(FileDescriptorSet {
            file: in_import_order(files),
        })
    }
}

/// Decode the file descriptors of a reflection reply into `files`.
fn add_files(
    files: &mut BTreeMap<String, FileDescriptorProto>,
    reply: MessageResponse,
    asked: &str,
) -> Result<(), String> {
    let MessageResponse::FileDescriptorResponse(r) = reply else {
        return Err(format!(
            "reflection answered {asked} with no file descriptor"
        ));
    };
    for bytes in r.file_descriptor_proto {
        let f = FileDescriptorProto::decode(bytes.as_slice())
            .map_err(|e| format!("reflection returned an invalid descriptor for {asked}: {e}"))?;
        if files.len() >= MAX_DESCRIPTOR_FILES {
            return Err(format!(
                "the service imports more than {MAX_DESCRIPTOR_FILES} files"
            ));
        }
        files.insert(f.name().to_string(), f);
    }
    Ok(())
}

/// The files, each after the files it imports.
fn in_import_order(mut files: BTreeMap<String, FileDescriptorProto>) -> Vec<FileDescriptorProto> {
    fn visit(
        name: &str,
        files: &mut BTreeMap<String, FileDescriptorProto>,
        seen: &mut HashSet<String>,
        out: &mut Vec<FileDescriptorProto>,
    ) {
        if !seen.insert(name.to_string()) {
            return;
        }
        let Some(f) = files.remove(name) else { return };
        for d in &f.dependency {
            visit(d, files, seen, out);
        }
        out.push(f);
    }
    let names: Vec<String> = files.keys().cloned().collect();
    let (mut seen, mut out) = (HashSet::new(), Vec::new());
    for n in names {
        visit(&n, &mut files, &mut seen, &mut out);
    }
    out
}

/// A tonic codec for messages known only by their descriptors.
#[derive(Debug, Clone)]
struct DynamicCodec(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicCodec;
    type Decoder = DynamicCodec;

    fn encoder(&mut self) -> Self::Encoder {
        self.clone()
    }

    fn decoder(&mut self) -> Self::Decoder {
        self.clone()
    }
}

impl Encoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(format!("cannot encode the request: {e}")))
    }
}

impl Decoder for DynamicCodec {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        let mut m = DynamicMessage::new(self.0.clone());
        m.merge(src).map_err(|e| {
            tonic::Status::internal(format!(
                "the response is not a valid {}: {e}",
                self.0.full_name()
            ))
        })?;
        Ok(Some(m))
    }
}

/// How one call went: its end-to-end time, and for a stream the time to
/// its first message.
struct CallTimes {
    e2e: Duration,
    first: Option<Duration>,
}

/// One sample: one call of the resolved method.
pub(crate) async fn sample(
    plan: &GrpcPlan,
    call: &ResolvedCall,
    w: &mut GrpcWorker,
    stats: &mut Stats,
    measured: bool,
) -> SampleResult {
    w.gaps.clear();
    let r = match crate::grpc::ensure_channel(plan, w, stats, measured).await {
        Ok((channel, _)) => one_call(plan, call, channel, &mut w.gaps).await,
        Err(f) => Err(f),
    };
    stats.attempted += 1;
    let outcome = match r {
        Ok(t) if measured => {
            stats.samples += 1;
            stats.record(Metric::E2e, t.e2e);
            if let Some(first) = t.first {
                stats.record(Metric::Ttft, first);
            }
            for g in &w.gaps {
                stats.record(Metric::Itl, *g);
            }
            Ok(t.first)
        }
        Ok(t) => {
            stats.warmup_excluded += 1;
            Ok(t.first)
        }
        Err(f) => {
            let kind = f.kind;
            stats.error(kind, || f.message);
            Err(kind)
        }
    };
    // A gRPC status leaves the channel usable; a transport failure does not.
    if matches!(outcome, Err(kind) if kind != ErrorKind::GrpcStatus) || !plan.reuse {
        w.channel = None;
    }
    outcome
}

fn status_failure(s: &tonic::Status, call: &ResolvedCall, what: &str) -> Failure {
    Failure::new(
        ErrorKind::GrpcStatus,
        format!(
            "{} on {what} returned {:?}: {}",
            call.name,
            s.code(),
            s.message()
        ),
    )
}

/// One call within the request bound (and, for a stream, the idle bound
/// between messages).
async fn one_call(
    plan: &GrpcPlan,
    call: &ResolvedCall,
    channel: Channel,
    gaps: &mut Vec<Duration>,
) -> Result<CallTimes, Failure> {
    let what = plan.target.redacted.as_str();
    let bounds = Bounds::starting_now(plan.timeout, plan.idle);
    let progress = Progress::default();
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let codec = DynamicCodec(call.method.output());
    let request = tonic::Request::new(call.request.clone());
    bounds
        .within(&progress, what, async {
            grpc.ready().await.map_err(|e| {
                Failure::new(ErrorKind::Connect, format!("gRPC channel to {what}: {e}"))
            })
        })
        .await?;
    progress.at(Stage::Head);
    let t0 = Instant::now();
    if !call.streaming() {
        let r = bounds
            .within(&progress, what, async {
                grpc.unary(request, call.path.clone(), codec)
                    .await
                    .map_err(|s| status_failure(&s, call, what))
            })
            .await;
        return r.map(|_| CallTimes {
            e2e: t0.elapsed(),
            first: None,
        });
    }
    let mut stream = bounds
        .within(&progress, what, async {
            grpc.server_streaming(request, call.path.clone(), codec)
                .await
                .map_err(|s| status_failure(&s, call, what))
        })
        .await?
        .into_inner();
    progress.at(Stage::Stream);
    let mut first = None;
    let mut last = t0;
    loop {
        let by = bounds.next_event_by(last);
        match tokio::time::timeout_at(by, stream.message()).await {
            Err(_) => return Err(bounds.stream_ran_out(&progress, what)),
            Ok(Err(s)) => return Err(status_failure(&s, call, what)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(_))) => {}
        }
        let t = Instant::now();
        progress.add_events(1);
        match first {
            None => first = Some(t - t0),
            Some(_) if gaps.len() < (1 << 16) => gaps.push(t - last),
            Some(_) => {}
        }
        last = t;
    }
    Ok(CallTimes {
        e2e: t0.elapsed(),
        first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_package_service_slash_method() {
        assert_eq!(
            split_method("pkg.v1.Search/Query"),
            Some(("pkg.v1.Search", "Query"))
        );
        assert_eq!(split_method("/a.B/C"), Some(("a.B", "C")));
        for bad in ["", "a.B", "a.B/", "/C", "a.B/C/D", "a B/C", "a.B/c.d"] {
            assert_eq!(split_method(bad), None, "{bad:?}");
        }
    }

    fn proto_pool() -> DescriptorPool {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../proto/cockpit/agent/v1/agent.proto"
        );
        pool_from_proto(Path::new(path), &[]).unwrap()
    }

    #[test]
    fn a_proto_file_compiles_at_run_time_and_its_request_is_json() {
        let pool = proto_pool();
        let svc = pool
            .get_service_by_name("cockpit.agent.v1.RetrievalService")
            .unwrap();
        let m = svc.methods().find(|m| m.name() == "Search").unwrap();
        let req = request_message(&m.input(), r#"{"query": "q", "topK": 3}"#).unwrap();
        assert_eq!(req.encode_to_vec().len(), 5);
        // Not the message's fields, or not JSON: the reason names the message.
        let e = request_message(&m.input(), r#"{"vector": [1]}"#).unwrap_err();
        assert!(e.contains("cockpit.agent.v1.SearchRequest"), "{e}");
        assert!(request_message(&m.input(), "{").is_err());
        assert!(request_message(&m.input(), "{} {}").is_err());
    }

    #[test]
    fn a_missing_or_broken_proto_is_a_reason_not_a_panic() {
        let e = pool_from_proto(Path::new("/nonexistent/x.proto"), &[]).unwrap_err();
        assert!(e.contains("/nonexistent/x.proto"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.proto");
        std::fs::write(&p, "syntax = \"proto3\"; message {").unwrap();
        let e = pool_from_proto(&p, &[]).unwrap_err();
        assert!(e.contains("does not compile"), "{e}");
    }

    #[test]
    fn reflection_files_are_put_after_their_imports() {
        let file = |name: &str, deps: &[&str]| FileDescriptorProto {
            name: Some(name.into()),
            dependency: deps.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        };
        let files = BTreeMap::from([
            (
                "a.proto".to_string(),
                file("a.proto", &["z.proto", "m.proto"]),
            ),
            ("m.proto".to_string(), file("m.proto", &["z.proto"])),
            ("z.proto".to_string(), file("z.proto", &[])),
        ]);
        let order: Vec<_> = in_import_order(files)
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(order, ["z.proto", "m.proto", "a.proto"]);
    }
}

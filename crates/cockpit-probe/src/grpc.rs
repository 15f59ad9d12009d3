//! The gRPC probe: unary `Complete` latency, `StreamComplete` time to first
//! message and gaps between messages, and `grpc.health.v1` status.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

use crate::bounds::{Bounds, Progress, Stage};
use crate::conn::{Failure, Io, Phases, TlsContext, open_stream};
use crate::load::ResponseStatus;
use crate::pb::CompleteRequest;
use crate::pb::agent_service_client::AgentServiceClient;
use crate::report::{ErrorKind, Metric, SampleResult, Stats, StreamOutcome};
use crate::target::Target;

/// Methods of the gRPC probe's distributions.
pub(crate) fn method_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "unary" => {
            "client-side, cockpit.agent.v1.AgentService/Complete, from the call to the response message received"
        }
        "ttft" => {
            "client-side, cockpit.agent.v1.AgentService/StreamComplete, from the call to the first TokenChunk received"
        }
        "ttft_incl_connect" => {
            "client-side, as ttft but from before DNS and connect when the sample opened its connection"
        }
        "itl" => "client-side, gaps between successive TokenChunk messages of StreamComplete",
        "tpot" => {
            "client-side, (e2e - ttft) / (output tokens - 1), per stream with more than one token"
        }
        "e2e" => {
            "client-side, StreamComplete from the call to the final message (last = true) or the stream end"
        }
        "output_tokens_per_s" => {
            "client-side, output tokens / e2e per stream; tokens from the final message's output_tokens when set, else the count of messages"
        }
        "dns" | "connect" | "tls" => return crate::http::method_text(name),
        _ => return None,
    })
}

/// Everything one gRPC sample needs, shared by the workers.
#[derive(Debug)]
pub(crate) struct GrpcPlan {
    pub target: Arc<Target>,
    pub tls: Option<TlsContext>,
    pub timeout: Duration,
    /// The longest gap between a stream's messages.
    pub idle: Duration,
    pub reuse: bool,
    pub prompt: String,
    pub system_prompt: String,
    pub max_tokens: u32,
    pub record_samples: bool,
    /// When set, each sample is one `RetrievalService/Search` call with this
    /// query and top_k instead of the agent calls.
    pub search: Option<(String, u32)>,
    /// When set, each sample is one call of this method instead.
    pub dynamic: Option<Arc<crate::grpc_dynamic::ResolvedCall>>,
}

/// A tonic connector that opens the stream with [`open_stream`] (so DNS,
/// connect and TLS are timed) and leaves the phases for the caller.
#[derive(Clone)]
struct PhasedConnector {
    target: Arc<Target>,
    tls: Option<TlsContext>,
    timeout: Duration,
    result: Arc<Mutex<Option<Result<Phases, Failure>>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tonic::codegen::Service<http::Uri> for PhasedConnector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            let r = open_stream(&me.target, me.tls.as_ref(), me.timeout, true).await;
            let out = match &r {
                Ok((_, p)) => Ok(*p),
                Err(f) => Err(f.clone()),
            };
            if let Ok(mut g) = me.result.lock() {
                *g = Some(out);
            }
            match r {
                Ok((io, _)) => Ok(TokioIo::new(io)),
                Err(f) => Err(f.message.into()),
            }
        })
    }
}

/// Open a channel on a new connection; returns it with the connection's phases.
pub(crate) async fn connect(
    target: &Arc<Target>,
    tls: Option<&TlsContext>,
    timeout: Duration,
) -> Result<(Channel, Phases), Failure> {
    let what = &target.redacted;
    // The URI only names the authority: TLS, when used, is done by the connector.
    let endpoint = Endpoint::from_shared(format!("http://{}", target.authority)).map_err(|e| {
        Failure::new(
            ErrorKind::Protocol,
            format!("{what} is not a valid gRPC endpoint: {e}"),
        )
    })?;
    let result = Arc::new(Mutex::new(None));
    let connector = PhasedConnector {
        target: target.clone(),
        tls: tls.cloned(),
        timeout,
        result: result.clone(),
    };
    let outcome = tokio::time::timeout(
        timeout.saturating_mul(2),
        endpoint.connect_with_connector(connector),
    )
    .await;
    let phases = result.lock().ok().and_then(|mut g| g.take());
    match (outcome, phases) {
        (Ok(Ok(ch)), Some(Ok(p))) => Ok((ch, p)),
        (_, Some(Err(f))) => Err(f),
        (Err(_), _) => Err(Failure::new(
            ErrorKind::Timeout,
            format!(
                "gRPC connection to {what} not ready within {:?}",
                timeout.saturating_mul(2)
            ),
        )),
        (Ok(Err(e)), _) => Err(Failure::new(
            ErrorKind::Connect,
            format!("gRPC connection to {what} failed: {e}"),
        )),
        (Ok(Ok(_)), None) => Err(Failure::new(
            ErrorKind::Protocol,
            format!("gRPC connection to {what} opened without a timed connect"),
        )),
    }
}

/// The `grpc.health.v1` status of the server (empty service name), as its
/// proto name (`SERVING`, `NOT_SERVING`, …), or why it is unknown.
pub(crate) async fn health(
    target: &Arc<Target>,
    tls: Option<&TlsContext>,
    timeout: Duration,
) -> String {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let (channel, _) = match connect(target, tls, timeout).await {
        Ok(c) => c,
        Err(f) => return format!("unknown: {}", f.message),
    };
    let mut client = HealthClient::new(channel);
    let call = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(timeout, call).await {
        Err(_) => format!("unknown: grpc.health.v1 Check took longer than {timeout:?}"),
        Ok(Err(s)) => format!(
            "unknown: grpc.health.v1 Check returned {:?}: {}",
            s.code(),
            s.message()
        ),
        Ok(Ok(r)) => r.into_inner().status().as_str_name().to_string(),
    }
}

fn status_failure(s: &tonic::Status, rpc: &str, what: &str) -> Failure {
    let hint = if s.code() == tonic::Code::Unimplemented {
        "; the target does not serve cockpit.agent.v1.AgentService (health and connect are still measured)"
    } else {
        ""
    };
    Failure::new(
        ErrorKind::GrpcStatus,
        format!(
            "{rpc} on {what} returned {:?}: {}{hint}",
            s.code(),
            s.message()
        ),
    )
    .with_status(ResponseStatus::grpc(s.code()))
}

/// Methods of the gRPC retrieval probe's distributions.
pub(crate) fn search_method_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "e2e" => {
            "client-side, cockpit.agent.v1.RetrievalService/Search, from the call to the response message received"
        }
        "dns" | "connect" | "tls" => return crate::http::method_text(name),
        _ => return None,
    })
}

/// The worker's channel, opened (and its phases recorded when `measured`)
/// if there is none or connections are not reused; with the instant the
/// connect started when this call opened it.
pub(crate) async fn ensure_channel(
    plan: &GrpcPlan,
    w: &mut GrpcWorker,
    stats: &mut Stats,
    measured: bool,
) -> Result<(Channel, Option<Instant>), Failure> {
    if let (Some(ch), true) = (&w.channel, plan.reuse) {
        return Ok((ch.clone(), None));
    }
    let (ch, p) = connect(&plan.target, plan.tls.as_ref(), plan.timeout).await?;
    if measured {
        stats.record(Metric::Dns, p.dns);
        stats.record(Metric::Connect, p.connect);
        if let Some(t) = p.tls {
            stats.record(Metric::Tls, t);
        }
    }
    stats.negotiated = Some("HTTP/2");
    w.channel = Some(ch.clone());
    Ok((ch, Some(p.start)))
}

/// One retrieval sample: a single `Search` call, recorded as `e2e`.
async fn search_sample(
    plan: &GrpcPlan,
    w: &mut GrpcWorker,
    stats: &mut Stats,
    measured: bool,
) -> SampleResult {
    use crate::pb::SearchRequest;
    use crate::pb::retrieval_service_client::RetrievalServiceClient;
    let (query, top_k) = plan.search.clone().unwrap_or_default();
    let what = plan.target.redacted.as_str();
    let timeout = plan.timeout;
    let r: Result<Duration, Failure> = async {
        let (channel, _) = ensure_channel(plan, w, stats, measured).await?;
        let mut client = RetrievalServiceClient::new(channel);
        let t0 = Instant::now();
        match tokio::time::timeout(timeout, client.search(SearchRequest { query, top_k })).await {
            Err(_) => Err(Failure::new(
                ErrorKind::Timeout,
                format!("Search on {what} took longer than {timeout:?}"),
            )),
            Ok(Err(s)) => Err(Failure::new(
                ErrorKind::GrpcStatus,
                format!("Search on {what} returned {:?}: {}", s.code(), s.message()),
            )),
            Ok(Ok(_)) => Ok(t0.elapsed()),
        }
    }
    .await;
    stats.attempted += 1;
    let outcome = match r {
        Ok(d) if measured => {
            stats.samples += 1;
            stats.record(Metric::E2e, d);
            Ok(None)
        }
        Ok(_) => {
            stats.warmup_excluded += 1;
            Ok(None)
        }
        Err(f) => {
            if f.kind != ErrorKind::GrpcStatus {
                w.channel = None;
            }
            let kind = f.kind;
            stats.error(kind, || f.message);
            Err(kind)
        }
    };
    if !plan.reuse {
        w.channel = None;
    }
    outcome
}

/// Per-worker state: the kept channel, and the gaps of the stream in flight.
#[derive(Debug, Default)]
pub(crate) struct GrpcWorker {
    pub(crate) channel: Option<Channel>,
    pub(crate) gaps: Vec<Duration>,
}

struct Outcome {
    unary: Duration,
    stream: StreamOutcome,
}

/// One gRPC sample: StreamComplete (first, so that `ttft_incl_connect` runs
/// from the connect it may have opened), then Complete. Returns the TTFT of
/// a successful one, else the kind of its failure (already counted).
pub(crate) async fn sample(
    plan: &GrpcPlan,
    w: &mut GrpcWorker,
    stats: &mut Stats,
    index: u32,
    measured: bool,
) -> SampleResult {
    if let Some(call) = &plan.dynamic {
        return crate::grpc_dynamic::sample(plan, call, w, stats, measured).await;
    }
    if plan.search.is_some() {
        return search_sample(plan, w, stats, measured).await;
    }
    w.gaps.clear();
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut send_wall = None;
    let r = sample_inner(plan, w, stats, measured, &request_id, &mut send_wall).await;
    stats.last_status = match &r {
        Ok(_) => Some(ResponseStatus::grpc(tonic::Code::Ok)),
        Err(f) => f.status,
    };
    if let (Ok(o), true) = (&r, measured) {
        stats.record(Metric::Unary, o.unary);
    }
    let r = stats.stream_sample(
        plan.record_samples,
        index,
        measured,
        request_id,
        send_wall,
        r.map(|o| o.stream),
        &w.gaps,
    );
    // A gRPC status leaves the channel usable; a transport failure does not.
    if matches!(r, Err(kind) if kind != ErrorKind::GrpcStatus) || !plan.reuse {
        w.channel = None;
    }
    r.map(Some)
}

async fn sample_inner(
    plan: &GrpcPlan,
    w: &mut GrpcWorker,
    stats: &mut Stats,
    measured: bool,
    request_id: &str,
    send_wall: &mut Option<SystemTime>,
) -> Result<Outcome, Failure> {
    let what = plan.target.redacted.as_str();
    let timeout = plan.timeout;
    let (channel, conn_start) = ensure_channel(plan, w, stats, measured).await?;
    let mut client = AgentServiceClient::new(channel);
    let req = || CompleteRequest {
        session_id: String::new(),
        prompt: plan.prompt.clone(),
        system_prompt: plan.system_prompt.clone(),
        max_tokens: plan.max_tokens,
        request_id: request_id.to_string(),
    };
    let late = |rpc: &str| {
        Failure::new(
            ErrorKind::Timeout,
            format!("{rpc} on {what} took longer than {timeout:?}"),
        )
    };

    if plan.record_samples {
        *send_wall = Some(SystemTime::now());
    }
    let send_start = Instant::now();
    let bounds = Bounds::starting_now(timeout, plan.idle);
    let progress = Progress::default();
    let stream = bounds.within(&progress, what, async {
        progress.at(Stage::Head);
        match client.stream_complete(req()).await {
            Err(s) => Err(status_failure(&s, "StreamComplete", what)),
            Ok(r) => Ok(r.into_inner()),
        }
    });
    let mut stream = stream.await?;
    progress.at(Stage::Stream);
    let (first, end, count, usage) =
        read_messages(&mut stream, &mut w.gaps, &bounds, &progress, what).await?;

    let t0 = Instant::now();
    match tokio::time::timeout(timeout, client.complete(req())).await {
        Err(_) => return Err(late("Complete")),
        Ok(Err(s)) => return Err(status_failure(&s, "Complete", what)),
        Ok(Ok(_)) => {}
    }
    let unary = t0.elapsed();

    let incl_from = conn_start.unwrap_or(send_start);
    Ok(Outcome {
        unary,
        stream: StreamOutcome {
            ttft: first - send_start,
            ttft_incl_connect: first - incl_from,
            e2e: end - send_start,
            tokens: usage.unwrap_or(count),
            from_usage: usage.is_some(),
        },
    })
}

/// Read StreamComplete's messages to the final one (or the stream's end):
/// the first and last arrivals, the message count and the final message's
/// token count. Each wait is bounded by the idle timeout and the call's
/// deadline ([`Bounds::next_event_by`]).
async fn read_messages(
    stream: &mut tonic::Streaming<crate::pb::TokenChunk>,
    gaps: &mut Vec<Duration>,
    bounds: &Bounds,
    progress: &Progress,
    what: &str,
) -> Result<(Instant, Instant, u64, Option<u64>), Failure> {
    let mut first = None;
    let mut last: Option<Instant> = None;
    let mut count = 0u64;
    let mut last_progress = Instant::now();
    loop {
        let by = bounds.next_event_by(last_progress);
        let msg = match tokio::time::timeout_at(by, stream.message()).await {
            Err(_) => return Err(bounds.stream_ran_out(progress, what)),
            Ok(Err(s)) => return Err(status_failure(&s, "StreamComplete", what)),
            Ok(Ok(None)) => {
                return match (first, last) {
                    (Some(f), Some(l)) => Ok((f, l, count, None)),
                    _ => Err(Failure::new(
                        ErrorKind::Protocol,
                        format!("StreamComplete on {what} ended without any message"),
                    )),
                };
            }
            Ok(Ok(Some(m))) => m,
        };
        let t = Instant::now();
        last_progress = t;
        progress.add_events(1);
        count += 1;
        match last {
            None => first = Some(t),
            Some(prev) => {
                if gaps.len() < (1 << 16) {
                    gaps.push(t - prev);
                }
            }
        }
        last = Some(t);
        if msg.last {
            let usage = (msg.output_tokens > 0).then(|| u64::from(msg.output_tokens));
            return Ok((first.unwrap_or(t), t, count, usage));
        }
    }
}

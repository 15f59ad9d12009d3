//! The gRPC server: `cockpit.agent.v1.AgentService`, `RetrievalService`, and
//! `grpc.health.v1`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::{Stream, stream};
use tokio::time::Instant;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

use crate::agent::{Agent, Ask, Pacer, Plan};
use crate::config::{Fault, Overrides};
use crate::http::{
    RECEIVED_UNIX_NS_HEADER, REQUEST_ID_HEADER, SESSION_TURNS_HEADER, request_id_or_new,
};
use crate::pb::agent_service_server::AgentService;
use crate::pb::retrieval_service_server::RetrievalService;
use crate::pb::{
    CompleteRequest, CompleteResponse, Hit, SearchRequest, SearchResponse, TokenChunk,
};
use crate::retrieval;
use crate::stamps::unix_ns;

const COMPLETE_ROUTE: &str = "/cockpit.agent.v1.AgentService/Complete";
const STREAM_ROUTE: &str = "/cockpit.agent.v1.AgentService/StreamComplete";
const SEARCH_ROUTE: &str = "/cockpit.agent.v1.RetrievalService/Search";

/// Implements `AgentService` over the shared [`Agent`].
#[derive(Debug, Clone)]
pub(crate) struct AgentGrpc(pub Arc<Agent>);

/// Implements `RetrievalService` over the shared [`Agent`].
#[derive(Debug, Clone)]
pub(crate) struct RetrievalGrpc(pub Arc<Agent>);

fn count(agent: &Agent, route: &str, code: Code) {
    agent
        .metrics
        .count_request(route, &(code as i32).to_string());
}

fn injected_error() -> Status {
    Status::unavailable("the testbed injected an error")
}

fn set_metadata(md: &mut MetadataMap, key: &'static str, value: &str) {
    if let Ok(v) = MetadataValue::try_from(value) {
        md.insert(key, v);
    }
}

/// Reads a request into a plan; the error is the status to answer with.
fn plan_request(agent: &Agent, request: Request<CompleteRequest>) -> Result<Plan, Status> {
    let received = Instant::now();
    let received_at = SystemTime::now();
    let md = request.metadata();
    let overrides = Overrides::read(|k| md.get(k).and_then(|v| v.to_str().ok()))
        .map_err(Status::invalid_argument)?;
    let given_id = md.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
    let req = request.get_ref();
    let request_id = if req.request_id.is_empty() {
        request_id_or_new(given_id)
    } else {
        request_id_or_new(Some(&req.request_id))
    };
    Ok(agent.plan(Ask {
        request_id,
        session_id: Some(req.session_id.as_str()).filter(|s| !s.is_empty()),
        prompt: &req.prompt,
        history: Vec::new(),
        system_prompt: &req.system_prompt,
        max_tokens: Some(req.max_tokens),
        overrides,
        received,
        received_at,
    }))
}

fn answer_metadata(md: &mut MetadataMap, plan: &Plan) {
    set_metadata(md, REQUEST_ID_HEADER, &plan.request_id);
    set_metadata(
        md,
        RECEIVED_UNIX_NS_HEADER,
        &unix_ns(plan.received_at).to_string(),
    );
    if let Some(n) = plan.session_turns {
        set_metadata(md, SESSION_TURNS_HEADER, &n.to_string());
    }
}

type TokenStream = Pin<Box<dyn Stream<Item = Result<TokenChunk, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AgentService for AgentGrpc {
    async fn complete(
        &self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<CompleteResponse>, Status> {
        let agent = &self.0;
        let result = async {
            let plan = plan_request(agent, request)?;
            if plan.fail {
                return Err(injected_error());
            }
            let mut pacer = Pacer::new(agent.clone(), plan);
            match pacer.plan.fault {
                Some(Fault::Stall) => {
                    agent.stall().await;
                    return Err(Status::unavailable("stalled answer given up"));
                }
                Some(Fault::CutMidStream) => {
                    return Err(Status::unavailable("connection cut mid-answer"));
                }
                _ => {}
            }
            pacer
                .wait_all()
                .await
                .map_err(|_| Status::unavailable("the testbed is shutting down"))?;
            let answer = CompleteResponse {
                text: pacer.plan.answer_text(),
                output_tokens: pacer.plan.tokens,
                session_turns: pacer.plan.session_turns.unwrap_or(0),
            };
            let mut response = Response::new(answer);
            answer_metadata(response.metadata_mut(), &pacer.plan);
            pacer.mark_all_sent();
            Ok(response)
        }
        .await;
        count(
            agent,
            COMPLETE_ROUTE,
            result.as_ref().map_or_else(Status::code, |_| Code::Ok),
        );
        result
    }

    type StreamCompleteStream = TokenStream;

    async fn stream_complete(
        &self,
        request: Request<CompleteRequest>,
    ) -> Result<Response<Self::StreamCompleteStream>, Status> {
        let agent = &self.0;
        let plan = match plan_request(agent, request) {
            Ok(p) if p.fail => Err(injected_error()),
            other => other,
        };
        let plan = match plan {
            Ok(p) => p,
            Err(status) => {
                count(agent, STREAM_ROUTE, status.code());
                return Err(status);
            }
        };
        count(agent, STREAM_ROUTE, Code::Ok);
        let mut md = MetadataMap::new();
        answer_metadata(&mut md, &plan);
        let pacer = Pacer::new(agent.clone(), plan);
        let chunks = stream::unfold(Some(pacer), |state| async move {
            let mut pacer = state?;
            let item = next_chunk(&mut pacer).await?;
            let more = item.as_ref().is_ok_and(|c| !c.last);
            Some((item, more.then_some(pacer)))
        });
        let mut response = Response::new(Box::pin(chunks) as TokenStream);
        *response.metadata_mut() = md;
        Ok(response)
    }
}

/// The next message of a streamed answer; `None` ends the stream.
async fn next_chunk(pacer: &mut Pacer) -> Option<Result<TokenChunk, Status>> {
    let tokens = pacer.plan.tokens;
    let sent = pacer.sent();
    match pacer.plan.fault {
        Some(Fault::CutMidStream) if sent >= (tokens / 2).max(1).min(tokens) => {
            pacer.record_progress();
            return Some(Err(Status::unavailable("connection cut mid-stream")));
        }
        Some(Fault::Stall) if sent >= 1 || tokens == 0 => {
            pacer.record_progress();
            pacer.agent().stall().await;
            return Some(Err(Status::unavailable("stalled answer given up")));
        }
        _ => {}
    }
    let turns = pacer.plan.session_turns.unwrap_or(0);
    let Some(i) = pacer.next_index() else {
        // Only reached for an answer of zero tokens.
        return Some(Ok(TokenChunk {
            text: String::new(),
            index: 0,
            last: true,
            output_tokens: 0,
            session_turns: turns,
        }));
    };
    if pacer.wait_next().await.is_err() {
        return Some(Err(Status::unavailable("the testbed is shutting down")));
    }
    let last = i + 1 == tokens;
    let chunk = TokenChunk {
        text: pacer.plan.token_text(i),
        index: i,
        last,
        output_tokens: if last { tokens } else { 0 },
        session_turns: if last { turns } else { 0 },
    };
    pacer.mark_sent();
    Some(Ok(chunk))
}

#[tonic::async_trait]
impl RetrievalService for RetrievalGrpc {
    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        let agent = &self.0;
        let start = Instant::now();
        if agent
            .sleep_until(start + agent.retrieval_delay())
            .await
            .is_err()
        {
            count(agent, SEARCH_ROUTE, Code::Unavailable);
            return Err(Status::unavailable("the testbed is shutting down"));
        }
        let req = request.into_inner();
        let hits = retrieval::search(&req.query, req.top_k)
            .into_iter()
            .map(|h| Hit {
                id: h.id,
                score: h.score,
                text: h.text,
            })
            .collect();
        count(agent, SEARCH_ROUTE, Code::Ok);
        Ok(Response::new(SearchResponse { hits }))
    }
}

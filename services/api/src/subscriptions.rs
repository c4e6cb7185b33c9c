//! One subscription connection (`/graphql/ws`). async-graphql speaks the protocol and runs
//! the operations; this loop stands between it and the socket, so a connection lives no
//! longer than its credential and costs what HTTP requests cost:
//!
//! - the token of `connection_init` is resolved again before each event is sent, and every
//!   `recheck` without events; once it no longer resolves the connection is closed: 4401
//!   when the token is invalid, revoked or expired, 4403 when the member is disabled or the
//!   tenant suspended (1011 when it cannot be checked now: the client may come back);
//! - every message counts against the rate limits, the member's and tenant's once the
//!   token resolved, the client address's before (and without valid credentials). Past
//!   them a `subscribe` is answered with an `error` for its id (RATE_LIMITED,
//!   `retryAfter`), and the connection stays; any other message closes it with 4429;
//! - at most `max_subscriptions` run at once: one more `subscribe` is answered with an
//!   `error` for its id (QUOTA_EXCEEDED); a `subscribe` reusing a running id closes the
//!   connection with 4409, as graphql-transport-ws says.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{WebSocket as Protocol, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderMap;
use futures::{SinkExt, StreamExt};
use medgrid_domain::{Actor, Code};
use medgrid_graphql::usecases::auth;
use medgrid_graphql::{ApiError, MedgridSchema, RequestContext, Services};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::graphql::context;
use crate::limits::{RateLimits, seconds};

/// Client messages read ahead of async-graphql.
const QUEUE: usize = 16;

/// The longest close reason a WebSocket frame carries, in bytes.
const REASON_BYTES: usize = 123;

/// How subscription connections are held (`MEDGRID_WS_*`).
#[derive(Debug, Clone, Copy)]
pub struct SocketLimits {
    /// The credential is resolved again at least this often.
    pub recheck: Duration,
    /// Subscriptions running at once on one connection (0 = no limit).
    pub max_subscriptions: usize,
}

/// What the connection was opened with.
pub(crate) struct Connection {
    pub schema: MedgridSchema,
    pub services: Services,
    pub limits: Arc<RateLimits>,
    pub socket_limits: SocketLimits,
    pub protocol: WebSocketProtocols,
    pub peer: IpAddr,
    pub headers: HeaderMap,
    pub request_id: Option<String>,
}

/// What the connection learnt so far.
#[derive(Default)]
struct State {
    /// `connection_init` was read.
    initialised: bool,
    /// The token presented, once it resolved.
    token: Option<String>,
    /// Who that token resolved to last.
    caller: Option<Actor>,
    /// Ids of the subscriptions running.
    running: HashSet<String>,
}

/// What to do with a client message.
enum Verdict {
    /// On to async-graphql.
    Pass,
    /// Not passed on; this message is the answer.
    Answer(String),
    /// Close the connection.
    Close(u16, String),
}

/// The fields of a protocol message this loop looks at (the rest is skipped unread).
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
}

/// `connection_init`'s payload.
#[derive(Deserialize)]
struct Init {
    #[serde(default)]
    payload: Option<Value>,
}

impl Connection {
    pub(crate) async fn serve(self, socket: WebSocket) {
        let (mut sink, mut incoming) = socket.split();
        // the caller resolved here, handed to async-graphql's `connection_init`
        let resolved = Arc::new(Mutex::new(None::<RequestContext>));
        let handed = resolved.clone();
        let (to_graphql, mut from_client) = mpsc::channel::<Vec<u8>>(QUEUE);
        let input = futures::stream::poll_fn(move |cx| from_client.poll_recv(cx));
        let graphql = Protocol::new(self.schema.clone(), input, self.protocol).on_connection_init(
            move |_payload| async move {
                let ctx = handed
                    .lock()
                    .ok()
                    .and_then(|mut c| c.take())
                    .unwrap_or_else(|| RequestContext::anonymous(None));
                let mut data = Data::default();
                data.insert(ctx);
                Ok(data)
            },
        );
        let mut graphql = Box::pin(graphql);
        let mut state = State::default();
        let every = self.socket_limits.recheck;
        let mut recheck = tokio::time::interval_at(Instant::now() + every, every);
        recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let close = loop {
            tokio::select! {
                message = incoming.next(), if to_graphql.capacity() > 0 => {
                    let bytes = match message {
                        Some(Ok(Message::Text(text))) => text.as_bytes().to_vec(),
                        Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                        // the socket's own pings (tungstenite answers them) count too
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                            match self.count(&state) {
                                Ok(()) => continue,
                                Err(wait) => break Some(too_many(wait)),
                            }
                        }
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break None,
                    };
                    match self.admit(&mut state, &bytes, &resolved).await {
                        Verdict::Pass => {
                            if to_graphql.try_send(bytes).is_err() {
                                break None;
                            }
                        }
                        Verdict::Answer(text) => {
                            if sink.send(Message::Text(text.into())).await.is_err() {
                                break None;
                            }
                        }
                        Verdict::Close(code, reason) => break Some((code, reason)),
                    }
                }
                out = graphql.next() => {
                    let text = match out {
                        Some(WsMessage::Text(text)) => text,
                        Some(WsMessage::Close(code, reason)) => break Some((code, reason)),
                        None => break None,
                    };
                    if let Some(refusal) = self.outgoing(&mut state, &text).await {
                        break Some(refusal);
                    }
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break None;
                    }
                }
                _ = recheck.tick(), if state.token.is_some() => {
                    if let Some(refusal) = self.recheck(&mut state).await {
                        break Some(refusal);
                    }
                }
            }
        };
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: truncated(&reason).into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
    }

    /// Looks at a client message before async-graphql does: resolves the credential of
    /// `connection_init`, counts the message, keeps the subscriptions' count.
    async fn admit(
        &self,
        state: &mut State,
        bytes: &[u8],
        resolved: &Mutex<Option<RequestContext>>,
    ) -> Verdict {
        // async-graphql answers what it cannot read (1002); it is counted all the same
        let message = serde_json::from_slice::<Envelope>(bytes).ok();
        let kind = message.as_ref().map_or("", |m| m.kind.as_str());
        if kind == "connection_init" && !state.initialised {
            state.initialised = true;
            // resolved first, as over HTTP: valid credentials count against the member
            let init = serde_json::from_slice::<Init>(bytes).ok();
            let ctx = self.resolve(state, init.and_then(|i| i.payload)).await;
            if let Ok(mut slot) = resolved.lock() {
                *slot = Some(ctx);
            }
        }
        let id = message.as_ref().and_then(|m| m.id.clone());
        let subscribe = matches!(kind, "subscribe" | "start");
        if let Err(wait) = self.count(state) {
            return match id {
                Some(id) if subscribe => {
                    let refusal = ApiError::rate_limited(
                        format!("too many requests; retry in {} s", seconds(wait)),
                        wait,
                    );
                    Verdict::Answer(self.error(&id, &refusal))
                }
                _ => {
                    let (code, reason) = too_many(wait);
                    Verdict::Close(code, reason)
                }
            };
        }
        match (kind, id) {
            ("subscribe" | "start", Some(id)) => self.subscribe(state, id),
            ("complete" | "stop", Some(id)) => {
                state.running.remove(&id);
                Verdict::Pass
            }
            _ => Verdict::Pass,
        }
    }

    /// The caller of `connection_init`'s `{"Authorization": "Bearer …"}`; a token that
    /// resolves is kept, to be resolved again.
    async fn resolve(&self, state: &mut State, payload: Option<Value>) -> RequestContext {
        let authorization = payload
            .as_ref()
            .and_then(|p| p.get("Authorization").or_else(|| p.get("authorization")))
            .and_then(Value::as_str);
        let ctx = context(&self.services, authorization, self.request_id.clone()).await;
        if let Ok(actor) = &ctx.caller {
            let token = authorization
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(|t| t.trim().to_owned());
            state.token = token;
            state.caller = Some(actor.clone());
        }
        ctx
    }

    /// Counts one message against the caller's budgets, or the client address's.
    fn count(&self, state: &State) -> Result<(), Duration> {
        match &state.caller {
            Some(actor) => self.limits.check(actor),
            None => self.limits.check_anonymous(self.peer, &self.headers),
        }
    }

    fn subscribe(&self, state: &mut State, id: String) -> Verdict {
        if state.running.contains(&id) {
            return Verdict::Close(4409, format!("Subscriber for {id} already exists"));
        }
        let max = self.socket_limits.max_subscriptions;
        if max > 0 && state.running.len() >= max {
            let refusal = ApiError::new(
                Code::QuotaExceeded,
                format!("at most {max} subscriptions run at once on one connection"),
            );
            return Verdict::Answer(self.error(&id, &refusal));
        }
        state.running.insert(id);
        Verdict::Pass
    }

    /// Looks at a message of async-graphql before it is sent: an event goes only to a
    /// caller whose credential still resolves; an ended subscription is counted out.
    async fn outgoing(&self, state: &mut State, text: &str) -> Option<(u16, String)> {
        let message = serde_json::from_str::<Envelope>(text).ok()?;
        match message.kind.as_str() {
            "next" | "data" => self.recheck(state).await,
            "complete" => {
                if let Some(id) = &message.id {
                    state.running.remove(id);
                }
                None
            }
            _ => None,
        }
    }

    /// Resolves the connection's token again: the close code and reason once it no
    /// longer resolves. A connection without a valid token has nothing to lose.
    async fn recheck(&self, state: &mut State) -> Option<(u16, String)> {
        let token = state.token.as_deref()?;
        match auth::resolve_bearer(&self.services, token).await {
            Ok(actor) => {
                state.caller = Some(actor);
                None
            }
            Err(e) => Some((close_code(e.code), e.message)),
        }
    }

    /// The protocol's `error` message for subscription `id`.
    fn error(&self, id: &str, refusal: &ApiError) -> String {
        let mut extensions = json!({"code": refusal.code.as_str()});
        if let Some(seconds) = refusal.retry_after_seconds() {
            extensions["retryAfter"] = json!(seconds);
        }
        let error = json!({"message": refusal.message, "extensions": extensions});
        let payload = match self.protocol {
            WebSocketProtocols::GraphQLWS => json!([error]),
            // the older subscriptions-transport-ws sends one error, not a list
            WebSocketProtocols::SubscriptionsTransportWS => error,
        };
        json!({"id": id, "type": "error", "payload": payload}).to_string()
    }
}

/// The close of a connection past its rate limits.
fn too_many(wait: Duration) -> (u16, String) {
    (
        4429,
        format!("too many requests; retry in {} s", seconds(wait)),
    )
}

/// The close code of a credential that no longer resolves.
fn close_code(code: Code) -> u16 {
    match code {
        Code::Unauthenticated => 4401,
        Code::Forbidden => 4403,
        // the check itself failed (the database): the client may come back
        _ => 1011,
    }
}

/// `reason` cut to what a close frame carries, on a character boundary.
fn truncated(reason: &str) -> &str {
    let mut end = reason.len().min(REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_frame() {
        assert_eq!(truncated("token revoked"), "token revoked");
        let long = "é".repeat(100);
        let cut = truncated(&long);
        assert!(cut.len() <= REASON_BYTES && cut.len() >= REASON_BYTES - 1);
    }

    #[test]
    fn refusals_map_to_the_protocols_close_codes() {
        assert_eq!(close_code(Code::Unauthenticated), 4401);
        assert_eq!(close_code(Code::Forbidden), 4403);
        assert_eq!(close_code(Code::Internal), 1011);
    }
}

//! APNs: HTTP/2 only, so this stand-in is an HTTP/2 server of its own (cleartext with prior
//! knowledge, on `vendor_sim.apns_listen`), not a route of the HTTP/1 server. It verifies ES256
//! provider tokens, enforces Apple's header and payload rules and answers Apple's reasons.
//! Accounts are the apps configured with `[apps.<id>.apns]`.

mod send;

use crate::state::SimState;
use bytes::Bytes;
use pushmesh_runtime::{Settings, Shutdown};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

pub const VENDOR: &str = "apns";

pub struct ApnsSim {
    pub public_key: Option<jsonwebtoken::DecodingKey>,
    /// team_id -> (key_id, topic)
    pub accounts: HashMap<String, (String, String)>,
}

#[derive(Deserialize)]
struct Account {
    team_id: String,
    key_id: String,
    topic: String,
}

impl ApnsSim {
    pub fn new(settings: &Settings, public_key: Option<jsonwebtoken::DecodingKey>) -> Self {
        let accounts = settings
            .apps
            .values()
            .filter_map(|vendors| vendors.get(VENDOR))
            .filter_map(|v| serde_json::from_value::<Account>(v.clone()).ok())
            .map(|a| (a.team_id, (a.key_id, a.topic)))
            .collect();
        ApnsSim {
            public_key,
            accounts,
        }
    }
}

/// Accepts connections until shutdown; each connection multiplexes many streams.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    sim: Arc<ApnsSim>,
    state: Arc<SimState>,
    shutdown: Shutdown,
) {
    let Ok(listener) = listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    else {
        tracing::error!("vendor-sim cannot serve APNs on its listener");
        return;
    };
    loop {
        let socket = tokio::select! {
            _ = shutdown.wait() => return,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(_) => continue,
            },
        };
        state.with(VENDOR, |v| v.connections += 1);
        let (sim, state) = (sim.clone(), state.clone());
        match tls.clone() {
            None => tokio::spawn(connection(socket, sim, state)),
            Some(tls) => tokio::spawn(async move {
                let Ok(socket) = tls.accept(socket).await else {
                    return;
                };
                // Like APNs: HTTP/2 is what ALPN agreed on, or nothing.
                if socket.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return;
                }
                connection(socket, sim, state).await
            }),
        };
    }
}

async fn connection<S>(socket: S, sim: Arc<ApnsSim>, state: Arc<SimState>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut conn) = h2::server::handshake(socket).await else {
        return;
    };
    while let Some(Ok((request, respond))) = conn.accept().await {
        tokio::spawn(stream(request, respond, sim.clone(), state.clone()));
    }
}

async fn stream(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    sim: Arc<ApnsSim>,
    state: Arc<SimState>,
) {
    let (parts, mut body) = request.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let latency = state.with(VENDOR, |v| v.latency_ms);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let answer = send::handle(&parts, &data, &sim, &state);
    let mut response = http::Response::builder().status(answer.status);
    if let Some(id) = &answer.apns_id {
        response = response.header("apns-id", id.as_str());
    }
    let Ok(response) = response.body(()) else {
        return;
    };
    match answer.body {
        None => {
            let _ = respond.send_response(response, true);
        }
        Some(body) => {
            if let Ok(mut s) = respond.send_response(response, false) {
                let _ = s.send_data(Bytes::from(body), true);
            }
        }
    }
}

//! Serving the coordinator: TLS, authentication and the limits that keep
//! one misbehaving client from exhausting it.
//!
//! - Messages: a request may be at most [`MAX_REQUEST_BYTES`] (a result with
//!   every test example's source, reference and prediction fits with room
//!   to spare); answers at most [`MAX_RESPONSE_BYTES`].
//! - Connections: at most [`STREAMS_PER_CONNECTION`] concurrent requests per
//!   connection, HTTP/2 keep-alive pings so dead peers are dropped, and a
//!   [`REQUEST_TIMEOUT`] on every call (a Lease long-poll is capped well
//!   below it).
//! - Studies: data sets load at most `datasets::CONCURRENT_LOADS` at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use intervene_proto::pb::coordinator_server::CoordinatorServer;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use super::CoordinatorService;
use super::auth::TokenCheck;
use crate::datasets::Datasets;
use crate::scheduler::Scheduler;

pub const MAX_REQUEST_BYTES: usize = 64 << 20;
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
pub const STREAMS_PER_CONNECTION: u32 = 64;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("TLS: {0}")]
    Tls(String),
    #[error("serving: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("the ledger cannot be written: {0}")]
    Ledger(String),
}

/// PEM-encoded certificate chain and private key of the coordinator.
#[derive(Clone)]
pub struct TlsFiles {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

pub struct ServeConfig {
    pub token: TokenCheck,
    pub tls: Option<TlsFiles>,
}

/// The accepted connections of `listener`, with Nagle's algorithm off.
///
/// Why: the builder's `tcp_nodelay` applies only to addresses tonic binds
/// itself, not to a listener handed in. Without it a small response waits
/// for the client's delayed ACK: every Lease took 40 ms however idle the
/// coordinator was (issue 7's profile).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true)).with_keepalive(Some(Duration::from_secs(60)))
}

/// Serve on `listener` until `shutdown` resolves (or the ledger fails).
pub async fn serve(
    listener: TcpListener,
    scheduler: Arc<Scheduler>,
    datasets: Arc<Datasets>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        let identity = Identity::from_pem(&tls.cert_pem, &tls.key_pem);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(|e| ServeError::Tls(e.to_string()))?;
    }
    let token = config.token.clone();
    let svc = CoordinatorServer::new(CoordinatorService { scheduler: scheduler.clone(), datasets })
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(MAX_RESPONSE_BYTES);
    let svc = InterceptedService::new(svc, move |req| token.intercept(req));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let expiry = tokio::spawn(scheduler.clone().run_expiry(stop_rx.clone()));
    // Stop serving when asked, or when the ledger can no longer be written:
    // answering from memory alone would promise what a restart forgets.
    let ledger_watch = {
        let scheduler = scheduler.clone();
        async move {
            loop {
                if let Some(err) = scheduler.writer().failure() {
                    return err;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let (failed_tx, mut failed_rx) = tokio::sync::oneshot::channel::<String>();
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            err = ledger_watch => { let _ = failed_tx.send(err); }
        }
    };
    let served = builder
        .concurrency_limit_per_connection(STREAMS_PER_CONNECTION as usize)
        .max_concurrent_streams(STREAMS_PER_CONNECTION)
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .http2_max_header_list_size(64 << 10)
        .timeout(REQUEST_TIMEOUT)
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming(listener), stop)
        .await;
    let _ = stop_tx.send(true);
    let _ = expiry.await;
    served?;
    if let Ok(err) = failed_rx.try_recv() {
        return Err(ServeError::Ledger(err));
    }
    Ok(())
}

//! Connecting to the coordinator: TLS when the URL is https, the bearer
//! token on every call, and the retry policy for a coordinator that is away.

use std::time::Duration;

use intervene_proto::pb::coordinator_client::CoordinatorClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

/// The largest message the agent sends or accepts (a result with every
/// test example fits; the coordinator enforces its own limit).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Clone)]
pub struct Auth {
    header: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl Auth {
    pub fn new(token: &str) -> Result<Auth, String> {
        let header = format!("Bearer {}", token.trim())
            .parse()
            .map_err(|_| "the token contains characters that cannot go in a header".to_string())?;
        Ok(Auth { header })
    }
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert("authorization", self.header.clone());
        Ok(request)
    }
}

pub type Client = CoordinatorClient<InterceptedService<Channel, Auth>>;

/// Where and how to reach the coordinator.
#[derive(Clone, Debug)]
pub struct Connection {
    /// `http://host:port` or `https://host:port`.
    pub url: String,
    pub token: String,
    /// PEM of the CA that signed the coordinator's certificate (https only).
    pub tls_ca: Option<Vec<u8>>,
    /// The name the certificate is checked against; the URL's host when None.
    pub tls_domain: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("coordinator URL `{url}`: {message}")]
    Url { url: String, message: String },
    #[error("token: {0}")]
    Token(String),
}

impl Connection {
    /// A client whose channel connects lazily: calls fail with Unavailable
    /// while the coordinator is away and succeed again once it is back.
    pub fn client(&self) -> Result<Client, ConnectError> {
        let url_err = |message: String| ConnectError::Url { url: self.url.clone(), message };
        let https = self.url.starts_with("https://");
        if !https && !self.url.starts_with("http://") {
            return Err(url_err("expected http://HOST:PORT or https://HOST:PORT".into()));
        }
        let mut endpoint = Endpoint::from_shared(self.url.clone())
            .map_err(|e| url_err(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        if https {
            // Only the CA named by the operator is trusted: a fleet's
            // coordinator has a private certificate, not a public one.
            let ca = self.tls_ca.as_ref().ok_or_else(|| {
                url_err("https needs the CA that signed the coordinator's certificate (--tls-ca FILE)".into())
            })?;
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            if let Some(domain) = &self.tls_domain {
                tls = tls.domain_name(domain.clone());
            }
            endpoint = endpoint.tls_config(tls).map_err(|e| url_err(format!("TLS: {e}")))?;
        } else if self.tls_ca.is_some() {
            return Err(url_err("a CA certificate was given, but the URL is not https://".into()));
        }
        let auth = Auth::new(&self.token).map_err(ConnectError::Token)?;
        Ok(CoordinatorClient::with_interceptor(endpoint.connect_lazy(), auth)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}

/// Whether a failed call is worth repeating later: the coordinator is
/// away, restarting or busy. Everything else is an answer. Decided by the
/// status code alone, never by the message text (a refused token is
/// `Unauthenticated`, which is not in the list).
pub fn is_transient(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Internal
    )
}

/// Exponential back-off with jitter, from 200 ms to `max`.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff { next: Duration::from_millis(200), max }
    }

    pub fn reset(&mut self) {
        self.next = Duration::from_millis(200);
    }

    /// The next delay: doubling, with up to 25% jitter so a fleet that lost
    /// its coordinator does not reconnect in lock step.
    pub fn delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
        base + jitter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff::new(Duration::from_secs(1));
        let d: Vec<Duration> = (0..6).map(|_| b.delay()).collect();
        assert!(d[0] >= Duration::from_millis(200) && d[0] <= Duration::from_millis(250));
        assert!(d[1] >= Duration::from_millis(400));
        assert!(d[5] <= Duration::from_millis(1250));
        b.reset();
        assert!(b.delay() <= Duration::from_millis(250));
    }

    // A lazy channel spawns its connection task, so this needs a runtime.
    #[tokio::test]
    async fn urls_and_tls_options_are_checked() {
        let c = |url: &str, ca: Option<Vec<u8>>| {
            Connection { url: url.into(), token: "t".repeat(20), tls_ca: ca, tls_domain: None }.client().err()
        };
        assert!(c("ftp://x:1", None).unwrap().to_string().contains("expected http://HOST:PORT"));
        assert!(c("http://x:1", Some(vec![])).unwrap().to_string().contains("not https://"));
        assert!(c("https://x:1", None).unwrap().to_string().contains("--tls-ca"));
        assert!(c("http://127.0.0.1:1", None).is_none());
    }

    #[test]
    fn transient_errors_are_retried_and_answers_are_not() {
        assert!(is_transient(&Status::unavailable("connection refused")));
        assert!(!is_transient(&Status::unauthenticated("invalid bearer token")));
        assert!(!is_transient(&Status::invalid_argument("job_id: bad")));
        assert!(!is_transient(&Status::not_found("no study")));
        // The code decides, whatever the message says.
        assert!(is_transient(&Status::unavailable("proxy: invalid bearer token upstream")));
        assert!(!is_transient(&Status::unauthenticated("connection refused")));
    }
}

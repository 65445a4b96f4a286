//! One connection to a Kafka broker that speaks the message types of the `kafka-protocol` crate, for the group
//! protocol rskafka does not have (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetFetch,
//! OffsetCommit). TCP, TLS and SASL (PLAIN, SCRAM) come from the same [`Security`] the rskafka clients use, so the
//! group connection reaches whatever cluster the fetches reach.
//!
//! Requests go one at a time (the group protocol is a conversation, not a stream); each is sent in the highest
//! version both we and the broker speak, found once with ApiVersions.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use rskafka::client::SaslConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::security::Security;

/// Why a group request failed.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// The broker cannot be reached, or the connection broke.
    #[error("group coordinator connection to {addr}: {source}")]
    Io {
        /// The broker.
        addr: String,
        /// What happened.
        #[source]
        source: std::io::Error,
    },
    /// No answer in time.
    #[error("no answer from {addr} to {api} within {} s", .waited.as_secs_f64())]
    Timeout {
        /// The broker.
        addr: String,
        /// The request.
        api: &'static str,
        /// How long we waited.
        waited: Duration,
    },
    /// The broker refused us: an untrusted certificate or failed authentication. Waiting does not fix it.
    #[error("{addr} refused the group connection: {what}")]
    Refused {
        /// The broker.
        addr: String,
        /// What to change.
        what: String,
    },
    /// The broker does not speak the request in a version we can use.
    #[error("{addr} does not speak {api} in a version we use ({need}); it offers {offered}. Use --assignment static with this broker")]
    Version {
        /// The broker.
        addr: String,
        /// The request.
        api: &'static str,
        /// Versions we can use.
        need: String,
        /// Versions it offers.
        offered: String,
    },
    /// An answer that does not decode, or a request that does not encode.
    #[error("{addr}: {api}: {what}")]
    Protocol {
        /// The broker.
        addr: String,
        /// The request.
        api: &'static str,
        /// What went wrong.
        what: String,
    },
    /// The broker answered with an error code.
    #[error("{api}: {error}")]
    Kafka {
        /// The request.
        api: &'static str,
        /// Kafka's error.
        error: ResponseError,
    },
}

impl GroupError {
    /// The Kafka error code, when the broker answered with one.
    pub fn kafka(&self) -> Option<ResponseError> {
        match self {
            Self::Kafka { error, .. } => Some(*error),
            _ => None,
        }
    }
}

/// A request we send and the answer it gets. The crate's own `Request` trait needs its broker side compiled in
/// too (decoding requests, encoding answers): twice the code, for nothing a client uses.
pub trait Call: Encodable + HeaderVersion {
    /// The API key.
    const KEY: ApiKey;
    /// The answer.
    type Response: Decodable + HeaderVersion;
}

macro_rules! calls {
    ($($key:ident: $req:ident => $resp:ident),* $(,)?) => {
        $(impl Call for $req {
            const KEY: ApiKey = ApiKey::$key;
            type Response = $resp;
        })*
    };
}

calls! {
    ApiVersions: ApiVersionsRequest => ApiVersionsResponse,
    SaslHandshake: SaslHandshakeRequest => SaslHandshakeResponse,
    SaslAuthenticate: SaslAuthenticateRequest => SaslAuthenticateResponse,
    FindCoordinator: FindCoordinatorRequest => FindCoordinatorResponse,
    JoinGroup: JoinGroupRequest => JoinGroupResponse,
    SyncGroup: SyncGroupRequest => SyncGroupResponse,
    Heartbeat: HeartbeatRequest => HeartbeatResponse,
    LeaveGroup: LeaveGroupRequest => LeaveGroupResponse,
    OffsetFetch: OffsetFetchRequest => OffsetFetchResponse,
    OffsetCommit: OffsetCommitRequest => OffsetCommitResponse,
    DescribeGroups: DescribeGroupsRequest => DescribeGroupsResponse,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// A connection to one broker.
pub struct Connection {
    addr: String,
    stream: Box<dyn Stream>,
    correlation: i32,
    /// API key → (min, max) version the broker speaks.
    versions: HashMap<i16, (i16, i16)>,
    /// The deadline of one request (JoinGroup and SyncGroup get their own: they wait for the rebalance).
    request_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("addr", &self.addr).finish()
    }
}

impl Connection {
    /// Connects to `addr` (host:port), with TLS and SASL as `security` says, and asks which versions it speaks.
    pub async fn open(addr: &str, security: &Security, request_timeout: Duration) -> Result<Self, GroupError> {
        let io = |source| GroupError::Io { addr: addr.to_string(), source };
        let tcp = tokio::time::timeout(request_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| GroupError::Timeout { addr: addr.into(), api: "connect", waited: request_timeout })?
            .map_err(io)?;
        tcp.set_nodelay(true).map_err(io)?;
        let stream: Box<dyn Stream> = match &security.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_matches(['[', ']']);
                let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
                    GroupError::Refused { addr: addr.into(), what: format!("{host} is not a TLS server name: {e}") }
                })?;
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(tls)).connect(name, tcp).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        GroupError::Refused {
                            addr: addr.into(),
                            what: format!(
                                "TLS: {e}: give the CA that signed the broker's certificate with --ssl-ca-location"
                            ),
                        }
                    } else {
                        io(e)
                    }
                })?;
                Box::new(tls)
            }
        };
        let mut conn =
            Self { addr: addr.to_string(), stream, correlation: 0, versions: HashMap::new(), request_timeout };
        if let Some(sasl) = &security.sasl {
            conn.authenticate(sasl).await?;
        }
        let api = conn.send_version(&ApiVersionsRequest::default(), 0, request_timeout).await?;
        if let Some(error) = ResponseError::try_from_code(api.error_code) {
            return Err(GroupError::Kafka { api: "ApiVersions", error });
        }
        conn.versions = api.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        Ok(conn)
    }

    /// The broker this connection goes to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `req` in the highest version in `ours` the broker speaks, within the request deadline.
    pub async fn send<R: Call>(&mut self, req: &R, ours: (i16, i16)) -> Result<R::Response, GroupError> {
        let deadline = self.request_timeout;
        self.send_within(req, ours, deadline).await
    }

    /// [`Connection::send`] with its own deadline (JoinGroup waits for every member to rejoin).
    pub async fn send_within<R: Call>(
        &mut self,
        req: &R,
        ours: (i16, i16),
        deadline: Duration,
    ) -> Result<R::Response, GroupError> {
        let version = self.version_of::<R>(ours)?;
        self.send_version(req, version, deadline).await
    }

    /// The version of `R` we would send: the highest in `ours` the broker speaks.
    pub fn version_of<R: Call>(&self, ours: (i16, i16)) -> Result<i16, GroupError> {
        let theirs = self.versions.get(&(R::KEY as i16)).copied();
        match theirs {
            Some((min, max)) if max.min(ours.1) >= min.max(ours.0) => Ok(max.min(ours.1)),
            _ => Err(GroupError::Version {
                addr: self.addr.clone(),
                api: api_name(R::KEY),
                need: format!("v{}..v{}", ours.0, ours.1),
                offered: theirs.map_or("none".into(), |(a, b)| format!("v{a}..v{b}")),
            }),
        }
    }

    async fn send_version<R: Call>(
        &mut self,
        req: &R,
        version: i16,
        deadline: Duration,
    ) -> Result<R::Response, GroupError> {
        let (addr, api) = (self.addr.clone(), api_name(R::KEY));
        let started = std::time::Instant::now();
        let r = match tokio::time::timeout(deadline, self.exchange(req, version)).await {
            Ok(r) => r,
            Err(_) => Err(GroupError::Timeout { addr, api, waited: deadline }),
        };
        tracing::trace!(api, version, ms = started.elapsed().as_millis() as u64, ok = r.is_ok(), "group request");
        r
    }

    async fn exchange<R: Call>(&mut self, req: &R, version: i16) -> Result<R::Response, GroupError> {
        let api = api_name(R::KEY);
        let addr = self.addr.clone();
        let proto = |what: String| GroupError::Protocol { addr: addr.clone(), api, what };
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("etl-rs")));
        let mut buf = BytesMut::with_capacity(256);
        buf.put_i32(0); // the length, filled in below
        header.encode(&mut buf, R::header_version(version)).map_err(|e| proto(e.to_string()))?;
        req.encode(&mut buf, version).map_err(|e| proto(e.to_string()))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        let io = |source| GroupError::Io { addr: addr.clone(), source };
        self.stream.write_all(&buf).await.map_err(io)?;
        self.stream.flush().await.map_err(io)?;
        let len = self.stream.read_i32().await.map_err(io)?;
        if !(0..=64 << 20).contains(&len) {
            return Err(proto(format!("an answer of {len} bytes")));
        }
        let mut body = vec![0; len as usize];
        self.stream.read_exact(&mut body).await.map_err(io)?;
        let mut body = Bytes::from(body);
        let rh = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| proto(e.to_string()))?;
        if rh.correlation_id != self.correlation {
            return Err(proto(format!("answer {} to request {}", rh.correlation_id, self.correlation)));
        }
        let resp = R::Response::decode(&mut body, version).map_err(|e| proto(e.to_string()))?;
        if body.has_remaining() {
            tracing::trace!(api, left = body.remaining(), "bytes left after the answer");
        }
        Ok(resp)
    }

    /// SASL: the handshake names the mechanism, then the client's and the server's messages go in
    /// SaslAuthenticate requests until the mechanism is done (one for PLAIN, two for SCRAM).
    async fn authenticate(&mut self, sasl: &SaslConfig) -> Result<(), GroupError> {
        let addr = self.addr.clone();
        let refused = |what: String| GroupError::Refused { addr: addr.clone(), what };
        let (mechanism, creds) = match sasl {
            SaslConfig::Plain(c) => ("PLAIN", c),
            SaslConfig::ScramSha256(c) => ("SCRAM-SHA-256", c),
            SaslConfig::ScramSha512(c) => ("SCRAM-SHA-512", c),
            SaslConfig::Oauthbearer(_) => return Err(refused("OAUTHBEARER is not supported".into())),
        };
        let hs = self
            .send_version(
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
                1,
                self.request_timeout,
            )
            .await?;
        if hs.error_code != 0 {
            let offered: Vec<_> = hs.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(refused(format!(
                "SASL mechanism {mechanism} refused (the broker offers {}): check --sasl-mechanism",
                offered.join(", ")
            )));
        }
        let config = rsasl::config::SASLConfig::with_credentials(None, creds.username.clone(), creds.password.clone())
            .map_err(|e| refused(format!("SASL: {e}")))?;
        let mech = rsasl::prelude::Mechname::parse(mechanism.as_bytes()).map_err(|e| refused(e.to_string()))?;
        let mut session = rsasl::prelude::SASLClient::new(config)
            .start_suggested(&[mech])
            .map_err(|e| refused(format!("SASL: {e}")))?;
        let mut received: Option<Vec<u8>> = None;
        loop {
            let mut out = Cursor::new(Vec::new());
            let state = session.step(received.as_deref(), &mut out).map_err(|e| {
                refused(format!(
                    "SASL authentication failed ({e}): check --sasl-username, --sasl-password / \
                     --sasl-password-file and --sasl-mechanism"
                ))
            })?;
            if state.has_sent_message() {
                let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(out.into_inner()));
                let resp = self.send_version(&req, 1, self.request_timeout).await?;
                if resp.error_code != 0 {
                    return Err(refused(format!(
                        "SASL authentication failed ({}): check --sasl-username, --sasl-password / \
                         --sasl-password-file and --sasl-mechanism",
                        resp.error_message.map_or_else(|| format!("error {}", resp.error_code), |m| m.to_string())
                    )));
                }
                received = Some(resp.auth_bytes.to_vec());
            }
            if state.is_finished() {
                return Ok(());
            }
        }
    }
}

/// The name of an API key, for messages.
fn api_name(key: ApiKey) -> &'static str {
    match Ok::<_, ()>(key) {
        Ok(ApiKey::FindCoordinator) => "FindCoordinator",
        Ok(ApiKey::JoinGroup) => "JoinGroup",
        Ok(ApiKey::SyncGroup) => "SyncGroup",
        Ok(ApiKey::Heartbeat) => "Heartbeat",
        Ok(ApiKey::LeaveGroup) => "LeaveGroup",
        Ok(ApiKey::OffsetFetch) => "OffsetFetch",
        Ok(ApiKey::OffsetCommit) => "OffsetCommit",
        Ok(ApiKey::DescribeGroups) => "DescribeGroups",
        Ok(ApiKey::ApiVersions) => "ApiVersions",
        Ok(ApiKey::SaslHandshake) => "SaslHandshake",
        Ok(ApiKey::SaslAuthenticate) => "SaslAuthenticate",
        _ => "a request",
    }
}

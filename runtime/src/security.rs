//! How the binaries talk to a secured Kafka cluster: TLS (with a CA of your own and, for mutual TLS, a client
//! certificate) and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), configured with librdkafka's names. Pure Rust: TLS is
//! rustls with the RustCrypto provider; SASL is rskafka's (rsasl).
//!
//! Secrets (the SASL password) are kept in [`Secret`], which never prints: not in logs, not in `--help`, not in
//! `Debug` output of the configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rskafka::client::{Credentials, SaslConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// `security.protocol`: how the connection to each broker is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no authentication (default).
    Plaintext,
    /// TLS, no authentication.
    Ssl,
    /// SASL authentication over plain TCP.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
    fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SaslMechanism {
    /// PLAIN: the password is sent as it is (use it over TLS only).
    #[value(name = "PLAIN")]
    Plain,
    /// SCRAM-SHA-256.
    #[value(name = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM-SHA-512.
    #[value(name = "SCRAM-SHA-512")]
    ScramSha512,
}

/// A secret value: parsed from the command line or the environment, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The security flags both binaries take, with librdkafka's names (and its environment variable spellings).
#[derive(Debug, Clone, clap::Args)]
pub struct SecurityArgs {
    /// How to connect to the brokers: plaintext, ssl, sasl_plaintext or sasl_ssl (librdkafka's security.protocol).
    #[arg(long, env = "SECURITY_PROTOCOL", value_enum, ignore_case = true, default_value_t = SecurityProtocol::Plaintext)]
    pub security_protocol: SecurityProtocol,
    /// SASL mechanism for sasl_plaintext and sasl_ssl: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, env = "SASL_MECHANISM", value_enum, ignore_case = true)]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL user name.
    #[arg(long, env = "SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// SASL password (prefer --sasl-password-file or the environment: a command line is visible to other users).
    #[arg(long, env = "SASL_PASSWORD", hide_env_values = true)]
    pub sasl_password: Option<Secret>,
    /// File holding the SASL password (a trailing newline is ignored).
    #[arg(long, env = "SASL_PASSWORD_FILE", conflicts_with = "sasl_password")]
    pub sasl_password_file: Option<PathBuf>,
    /// PEM file of the CA certificate(s) that signed the brokers' certificates. Without it, the public web CAs
    /// (Mozilla's list, built in) are trusted, as for a cloud service.
    #[arg(long, env = "SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<PathBuf>,
    /// PEM file of this client's certificate chain, for mutual TLS (with --ssl-key-location).
    #[arg(long, env = "SSL_CERTIFICATE_LOCATION", requires = "ssl_key_location")]
    pub ssl_certificate_location: Option<PathBuf>,
    /// PEM file of this client's private key (PKCS#8, SEC1 or RSA), for mutual TLS.
    #[arg(long, env = "SSL_KEY_LOCATION", requires = "ssl_certificate_location")]
    pub ssl_key_location: Option<PathBuf>,
}

/// Why the security settings cannot be used; each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A flag that needs another, or one that does not fit the protocol.
    #[error("{0}")]
    Flags(String),
    /// A file that cannot be read or is not what it should be.
    #[error("{flag} {path}: {problem}")]
    File {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// What [`SecurityArgs::resolve`] makes: what the Kafka client needs.
#[derive(Clone, Default)]
pub struct Security {
    /// TLS client configuration, for ssl and sasl_ssl.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// SASL configuration, for sasl_plaintext and sasl_ssl.
    pub sasl: Option<SaslConfig>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security").field("tls", &self.tls.is_some()).field("sasl", &self.sasl.is_some()).finish()
    }
}

impl SecurityArgs {
    /// Checks the flags against each other and reads the files they name: the CA, the client certificate and key,
    /// the password file. Errors name the flag and say what to do.
    pub fn resolve(&self) -> Result<Security, SecurityError> {
        let p = self.security_protocol;
        let flag_err = |m: String| Err(SecurityError::Flags(m));
        if !p.tls() {
            for (set, name) in [
                (self.ssl_ca_location.is_some(), "--ssl-ca-location"),
                (self.ssl_certificate_location.is_some(), "--ssl-certificate-location"),
            ] {
                if set {
                    return flag_err(format!(
                        "{name} is set but --security-protocol is {}: use ssl or sasl_ssl for TLS",
                        protocol_name(p)
                    ));
                }
            }
        }
        let sasl = if p.sasl() {
            let Some(mechanism) = self.sasl_mechanism else {
                return flag_err(format!(
                    "--security-protocol {} needs --sasl-mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    protocol_name(p)
                ));
            };
            let Some(username) = self.sasl_username.clone() else {
                return flag_err("SASL needs --sasl-username (SASL_USERNAME)".into());
            };
            let password = match (&self.sasl_password, &self.sasl_password_file) {
                (Some(s), _) => s.expose().to_owned(),
                (None, Some(path)) => read_password_file("--sasl-password-file", path)?,
                (None, None) => {
                    return flag_err(
                        "SASL needs a password: --sasl-password-file, or SASL_PASSWORD in the environment".into(),
                    )
                }
            };
            let credentials = Credentials::new(username, password);
            Some(match mechanism {
                SaslMechanism::Plain => SaslConfig::Plain(credentials),
                SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(credentials),
                SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(credentials),
            })
        } else {
            if self.sasl_mechanism.is_some() || self.sasl_username.is_some() {
                return flag_err(format!(
                    "SASL flags are set but --security-protocol is {}: use sasl_plaintext or sasl_ssl",
                    protocol_name(p)
                ));
            }
            None
        };
        let tls = if p.tls() { Some(Arc::new(self.tls_config()?)) } else { None };
        Ok(Security { tls, sasl })
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, SecurityError> {
        let builder = tls_builder("--ssl-ca-location", self.ssl_ca_location.as_deref())?;
        Ok(match (&self.ssl_certificate_location, &self.ssl_key_location) {
            (Some(cert), Some(key)) => {
                let chain = read_certs("--ssl-certificate-location", cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| file_err("--ssl-key-location", key, format!("no private key in it: {e}")))?;
                builder.with_client_auth_cert(chain, key)?
            }
            _ => builder.with_no_client_auth(),
        })
    }
}

/// A rustls configuration with the pure-Rust crypto provider, trusting the CA certificates in the PEM file `ca`
/// (named by `ca_flag` in errors) or, without one, the public web CAs (Mozilla's list, built in); no client
/// certificate. For other TLS clients than Kafka's (ClickHouse over HTTPS).
pub fn tls_client_config(ca_flag: &'static str, ca: Option<&Path>) -> Result<rustls::ClientConfig, SecurityError> {
    Ok(tls_builder(ca_flag, ca)?.with_no_client_auth())
}

fn tls_builder(
    ca_flag: &'static str,
    ca: Option<&Path>,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, SecurityError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in read_certs(ca_flag, path)? {
                roots.add(cert).map_err(|e| file_err(ca_flag, path, format!("not a CA: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls_rustcrypto::provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}

/// The protocol as `--security-protocol` spells it.
fn protocol_name(p: SecurityProtocol) -> String {
    use clap::ValueEnum;
    p.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}

fn file_err(flag: &'static str, path: &Path, problem: String) -> SecurityError {
    SecurityError::File { flag, path: path.to_owned(), problem }
}

fn read_certs(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, SecurityError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(flag, path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(flag, path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(flag, path, "no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

/// The password in the file `path` (named by `flag` in errors); a trailing newline is not part of it.
pub fn read_password_file(flag: &'static str, path: &Path) -> Result<String, SecurityError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_err(flag, path, e.to_string()))?;
    Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        s: SecurityArgs,
    }

    fn parse(args: &[&str]) -> Result<Security, String> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        cli.s.resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn flags_are_checked_against_the_protocol() {
        assert!(parse(&[]).unwrap().tls.is_none());
        let e = parse(&["--security-protocol", "sasl_ssl"]).unwrap_err();
        assert!(e.contains("needs --sasl-mechanism"), "{e}");
        let e = parse(&["--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "scram-sha-256"]).unwrap_err();
        assert!(e.contains("--sasl-username"), "{e}");
        let e = parse(&["--sasl-username", "u"]).unwrap_err();
        assert!(e.contains("use sasl_plaintext or sasl_ssl"), "{e}");
        let e = parse(&["--ssl-ca-location", "/nope"]).unwrap_err();
        assert!(e.contains("use ssl or sasl_ssl"), "{e}");
        let e = parse(&["--security-protocol", "ssl", "--ssl-ca-location", "/nope/ca.pem"]).unwrap_err();
        assert!(e.contains("--ssl-ca-location /nope/ca.pem"), "{e}");
        let ok = parse(&[
            "--security-protocol=sasl_plaintext",
            "--sasl-mechanism=SCRAM-SHA-512",
            "--sasl-username=u",
            "--sasl-password=p",
        ])
        .unwrap();
        assert!(ok.sasl.is_some() && ok.tls.is_none());
        assert!(parse(&["--security-protocol=ssl"]).unwrap().tls.is_some(), "the built-in web roots");
    }

    #[test]
    fn the_password_never_prints() {
        let cli = Cli::try_parse_from(["x", "--sasl-password", "hunter2"]).unwrap();
        assert!(!format!("{:?}", cli.s).contains("hunter2"));
    }
}

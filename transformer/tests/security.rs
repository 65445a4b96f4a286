//! TLS and SASL against the real broker: the test starts its own nisshi brokers with a CA and a server certificate
//! it makes with the openssl CLI (no private key is committed) and with SCRAM users, and runs the emitter and the
//! transformer through each security protocol. Also: a wrong password and an unknown CA fail fast with a clear
//! message, and the password shows nowhere. Mutual TLS goes through a rustls terminator of the test's own that
//! requires client certificates, in front of a nisshi that advertises it (nisshi cannot require them itself).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::*;

/// Just the security flags, parsed as both binaries parse them.
#[derive(Parser)]
struct SecurityOnly {
    #[command(flatten)]
    args: runtime::security::SecurityArgs,
}

/// Runs the emitter (in process) for `total` events of seed 9 with `security` flags, to completion.
async fn emit(brokers: &str, names: &Names, total: u64, security: &[String]) {
    let s = Servers { brokers: brokers.to_string(), clickhouse: clickhouse::Client::default() };
    let mut cfg = names.emitter(&s, 9, total, 0.0, false);
    cfg.security = SecurityOnly::parse_from(std::iter::once(&"x".to_string()).chain(security)).args;
    let summary = tokio::time::timeout(Duration::from_secs(120), emitter::run(cfg, std::future::pending()))
        .await
        .expect("the emitter finishes")
        .expect("the emitter connects and writes");
    assert_eq!(summary.sent, total);
}

/// Runs `transformer --drain` (the binary) with `security` flags; returns its exit code and output.
fn drain(brokers: &str, names: &Names, security: &[String]) -> (i32, String) {
    let s = Servers { brokers: brokers.to_string(), clickhouse: clickhouse::Client::default() };
    let extra: Vec<&str> = std::iter::once("--drain").chain(security.iter().map(String::as_str)).collect();
    run_binary(&names.transformer_args(&s, &extra))
}

/// Everything emitted came through the transformer: the drain's last line counts it.
fn assert_drained(code: i32, log: &str, total: u64) {
    assert_eq!(code, 0, "{log}");
    let line = log.lines().find(|l| l.contains("drained every input partition")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(&format!("records_out={total}")), "{line}");
}

/// The same through a consumer group (`--assignment group`): the group protocol's own connection goes through the
/// same TLS and SASL.
async fn drain_in_a_group(brokers: &str, test: &str, security: &[String]) {
    let names = Names::new(test);
    emit(brokers, &names, 200, security).await;
    let (code, log) = drain(brokers, &names, &[security, &flags(&["--assignment=group"])].concat());
    assert_drained(code, &log, 200);
    assert!(log.contains("joined the group"), "{log}");
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_our_ca_and_an_unknown_ca_refused() {
    let dir = temp_dir("tls");
    make_certs(&dir);
    let broker = Broker::start(&dir, &["--cert", "server.pem", "--key", "server.key"]);
    let ca = dir.join("ca.pem").display().to_string();
    let tls = flags(&["--security-protocol=ssl", &format!("--ssl-ca-location={ca}")]);
    let names = Names::new("tls");
    emit(&broker.brokers(), &names, 300, &tls).await;
    let (code, log) = drain(&broker.brokers(), &names, &tls);
    assert_drained(code, &log, 300);
    drain_in_a_group(&broker.brokers(), "tls_group", &tls).await;

    // A CA that did not sign the broker's certificate: exit 1 at once, saying what to do.
    let other = dir.join("other-ca.pem").display().to_string();
    let started = Instant::now();
    let (code, log) = drain(
        &broker.brokers(),
        &Names::new("tls_bad"),
        &flags(&["--security-protocol=ssl", &format!("--ssl-ca-location={other}")]),
    );
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("--ssl-ca-location") && log.contains("certificate"), "{log}");
    assert!(started.elapsed() < Duration::from_secs(20), "it failed fast: {:?}", started.elapsed());
    // Plain TCP to a TLS listener: refused with a message, not a hang.
    let (code, log) = drain(&broker.brokers(), &Names::new("tls_plain"), &[]);
    assert_ne!(code, 0, "{log}");
    broker.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_over_plaintext_and_over_tls_and_a_wrong_password_refused() {
    let dir = temp_dir("sasl");
    make_certs(&dir);
    // Users are made on the broker's storage before authentication is turned on (nisshi's `user create` does not
    // log in).
    let plain = Broker::start(&dir, &[]);
    for (mechanism, user, password) in
        [("scram256", "alice", "alice-secret-256"), ("scram512", "bob", "bob-secret-512")]
    {
        let out = Command::new(nisshi())
            .args([
                "user",
                "create",
                "--broker",
                &format!("tcp://{}", plain.brokers()),
                "--mechanism",
                mechanism,
                user,
                password,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "nisshi user create: {}", String::from_utf8_lossy(&out.stderr));
    }
    plain.stop();

    let password_file = dir.join("bob.password");
    std::fs::write(&password_file, "bob-secret-512\n").unwrap();
    let alice = |protocol: &str| {
        flags(&[
            &format!("--security-protocol={protocol}"),
            "--sasl-mechanism=SCRAM-SHA-256",
            "--sasl-username=alice",
            "--sasl-password=alice-secret-256",
        ])
    };
    // SASL over plain TCP, SCRAM-SHA-256, the password on the command line.
    let broker = Broker::start(&dir, &["--authentication"]);
    let names = Names::new("sasl_plain");
    emit(&broker.brokers(), &names, 200, &alice("sasl_plaintext")).await;
    let (code, log) = drain(&broker.brokers(), &names, &alice("sasl_plaintext"));
    assert_drained(code, &log, 200);
    assert!(!log.contains("alice-secret-256"), "the password is not logged");
    drain_in_a_group(&broker.brokers(), "sasl_plain_group", &alice("sasl_plaintext")).await;

    // A wrong password: exit 1 at once, saying so.
    let started = Instant::now();
    let wrong = flags(&[
        "--security-protocol=sasl_plaintext",
        "--sasl-mechanism=SCRAM-SHA-256",
        "--sasl-username=alice",
        "--sasl-password=not-it",
    ]);
    let (code, log) = drain(&broker.brokers(), &Names::new("sasl_wrong"), &wrong);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("SASL") && log.contains("--sasl-password"), "{log}");
    assert!(!log.contains("not-it"), "the password is not printed: {log}");
    assert!(started.elapsed() < Duration::from_secs(20), "it failed fast: {:?}", started.elapsed());
    broker.stop();

    // SASL over TLS, SCRAM-SHA-512, the password from a file.
    let broker = Broker::start(&dir, &["--authentication", "--cert", "server.pem", "--key", "server.key"]);
    let ca = dir.join("ca.pem").display().to_string();
    let bob = flags(&[
        "--security-protocol=SASL_SSL",
        "--sasl-mechanism=SCRAM-SHA-512",
        "--sasl-username=bob",
        &format!("--sasl-password-file={}", password_file.display()),
        &format!("--ssl-ca-location={ca}"),
    ]);
    let names = Names::new("sasl_ssl");
    emit(&broker.brokers(), &names, 200, &bob).await;
    let (code, log) = drain(&broker.brokers(), &names, &bob);
    assert_drained(code, &log, 200);
    drain_in_a_group(&broker.brokers(), "sasl_ssl_group", &bob).await;
    broker.stop();
}

/// A TLS listener (`listener`) that requires a client certificate signed by `dir/ca.pem` and forwards each
/// connection in plain TCP to `upstream`: nisshi cannot require client certificates itself, so the test puts this in
/// front of a broker that advertises the proxy's address, and every connection (the group coordinator's too) goes
/// through it. Returns the number of handshakes it accepted and refused, as they happen.
fn mutual_tls_proxy(dir: &Path, listener: tokio::net::TcpListener, upstream: String) -> Arc<[AtomicU64; 2]> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls_rustcrypto::provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let seen = Arc::clone(&counts);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, upstream, seen) = (acceptor.clone(), upstream.clone(), Arc::clone(&seen));
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    seen[1].fetch_add(1, Relaxed); // no client certificate, or one of another CA
                    return;
                };
                seen[0].fetch_add(1, Relaxed);
                let mut plain = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_our_client_certificate_and_without_one_refused() {
    let dir = temp_dir("mtls");
    make_certs(&dir);
    make_client_certs(&dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let broker = Broker::start_advertising(&dir, Some(&proxy), &[]);
    let handshakes = mutual_tls_proxy(&dir, listener, broker.brokers());
    let file = |name: &str| dir.join(name).display().to_string();
    let tls = flags(&["--security-protocol=ssl", &format!("--ssl-ca-location={}", file("ca.pem"))]);
    let client = |name: &str| {
        let cert = format!("--ssl-certificate-location={}", file(&format!("{name}.pem")));
        [tls.clone(), flags(&[&cert, &format!("--ssl-key-location={}", file(&format!("{name}.key")))])].concat()
    };
    let names = Names::new("mtls");
    emit(&proxy, &names, 300, &client("client")).await;
    let (code, log) = drain(&proxy, &names, &client("client"));
    assert_drained(code, &log, 300);
    drain_in_a_group(&proxy, "mtls_group", &client("client")).await;
    assert!(handshakes[0].load(Relaxed) >= 3, "the clients came through the proxy's mutual TLS");
    assert_eq!(handshakes[1].load(Relaxed), 0, "and none was refused");

    // No client certificate, or one signed by a CA the broker does not trust: exit 1 at once, saying what to do.
    for (what, security) in
        [("no client certificate", tls.clone()), ("another CA's client certificate", client("rogue"))]
    {
        let refused_before = handshakes[1].load(Relaxed);
        let started = Instant::now();
        let (code, log) = drain(&proxy, &Names::new("mtls_refused"), &security);
        assert_eq!(code, 1, "{what}: {log}");
        assert!(
            log.contains("--ssl-certificate-location") && log.contains("refused the TLS handshake"),
            "{what}: {log}"
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{what}: it failed fast: {:?}", started.elapsed());
        assert!(handshakes[1].load(Relaxed) > refused_before, "{what}: the proxy refused the handshake");
    }
    broker.stop();
}

#[test]
fn help_shows_no_password_from_the_environment() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_transformer")).arg("--help").env("SASL_PASSWORD", "hunter2").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--sasl-password") && text.contains("--security-protocol"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

//! A real SMTP server for a test: `tests/node/smtp.mjs` (npm smtp-server) on 127.0.0.1,
//! plain, STARTTLS or implicit TLS with a self-signed certificate made here (rcgen), AUTH
//! when asked, recipients it refuses with 550, and every accepted message kept as a file.
//!
//! Node and the package are required (`scripts/node-deps`, which `scripts/test` runs);
//! a missing one fails the test loudly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text; STARTTLS not offered.
    #[default]
    None,
    /// STARTTLS offered (and required by the URL `url()` gives).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    pub tls: SmtpTls,
    /// AUTH required with these (user, password); None: AUTH not offered.
    pub auth: Option<(String, String)>,
    /// Recipients containing one of these (case-insensitive) get `550 5.1.1 no such user`.
    pub refuse: Vec<String>,
}

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope's sender (MAIL FROM).
    pub from: String,
    /// The envelope's recipients (RCPT TO).
    pub to: Vec<String>,
    /// The message as received (headers and body, CRLF line ends).
    pub raw: String,
}

pub struct SmtpServer {
    pub port: u16,
    options: SmtpOptions,
    /// Certificate, key and the `messages` directory.
    dir: PathBuf,
    child: Option<Child>,
}

fn node_modules() -> String {
    std::env::var("MEDGRID_TEST_NODE_MODULES")
        .unwrap_or_else(|_| "/var/tmp/medgrid-node/node_modules".into())
}

impl SmtpServer {
    pub async fn start(options: SmtpOptions) -> Self {
        let dir = std::env::temp_dir().join(format!("medgrid-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("messages")).expect("SMTP test directory");
        if options.tls != SmtpTls::None {
            // Lettre connects to 127.0.0.1 by IP: the certificate names the IP (an IP SAN),
            // and localhost for clients that go by name.
            let certified =
                rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                    .expect("self-signed certificate");
            std::fs::write(dir.join("cert.pem"), certified.cert.pem()).expect("write cert");
            std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem())
                .expect("write key");
        }
        let mut server = Self {
            port: 0,
            options,
            dir,
            child: None,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let modules = node_modules();
        assert!(
            Path::new(&modules).join("smtp-server").exists(),
            "the tests' SMTP server (npm smtp-server) is not installed in {modules}: run \
             scripts/node-deps (scripts/test does) or set MEDGRID_TEST_NODE_MODULES"
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node/smtp.mjs");
        let tls = match self.options.tls {
            SmtpTls::None => "none",
            SmtpTls::StartTls => "starttls",
            SmtpTls::Implicit => "implicit",
        };
        let auth = self
            .options
            .auth
            .as_ref()
            .map(|(user, pass)| json!({"user": user, "pass": pass}));
        let config = json!({
            "port": self.port,
            "tls": tls,
            "key": self.dir.join("key.pem"),
            "cert": self.dir.join("cert.pem"),
            "auth": auth,
            "refuse": self.options.refuse,
            "dir": self.dir.join("messages"),
        });
        let mut child = Command::new("node")
            .arg(script)
            .arg(config.to_string())
            .env("MEDGRID_TEST_NODE_MODULES", &modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node is required for the mail tests: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        // a fixed port still held by the server just killed is retried for about 5 s
        tokio::time::timeout(
            Duration::from_millis(20_000),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("the SMTP server did not start within 20 s")
        .expect("SMTP server output");
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the SMTP server did not start ({e}): {line:?}"));
        self.port = u16::try_from(started["port"].as_u64().unwrap()).unwrap();
        self.child = Some(child);
    }

    /// The Medgrid SMTP URL of this server (with its credentials, if any).
    pub fn url(&self) -> String {
        let credentials = match &self.options.auth {
            Some((user, pass)) => format!(
                "{}:{}@",
                utf8_percent_encode(user, NON_ALPHANUMERIC),
                utf8_percent_encode(pass, NON_ALPHANUMERIC)
            ),
            None => String::new(),
        };
        match self.options.tls {
            SmtpTls::None => format!("smtp://{credentials}127.0.0.1:{}", self.port),
            SmtpTls::StartTls => {
                format!("smtp://{credentials}127.0.0.1:{}?tls=required", self.port)
            }
            SmtpTls::Implicit => format!("smtps://{credentials}127.0.0.1:{}", self.port),
        }
    }

    /// The server's self-signed certificate (PEM), to trust as a CA; None without TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        (self.options.tls != SmtpTls::None).then(|| self.dir.join("cert.pem"))
    }

    /// Kills the server (an outage): connections are refused until `start_again`.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// The server again on the same port, keeping the messages received so far.
    pub async fn start_again(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// The messages accepted so far, in order of arrival.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let dir = self.dir.join("messages");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("messages directory")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".eml").map(str::to_owned))
            .filter(|name| !name.starts_with('.'))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                // the server writes the envelope before the message: both are there
                let envelope: Value = serde_json::from_slice(
                    &std::fs::read(dir.join(format!("{name}.json"))).unwrap(),
                )
                .unwrap();
                let raw = std::fs::read(dir.join(format!("{name}.eml"))).unwrap();
                ReceivedMail {
                    from: envelope["from"].as_str().unwrap().to_owned(),
                    to: envelope["to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_owned())
                        .collect(),
                    raw: String::from_utf8(raw).expect("a message in UTF-8"),
                }
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} messages arrived within {timeout:?}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // the child is killed by kill_on_drop
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! Sending one mail: to an SMTP server (lettre), or as a file into an outbox directory
//! (the embedded default, and what a test or a mail-less installation reads).
//!
//! SMTP URLs (`SmtpSettings::url`, kept secret because it may hold a password):
//!
//! | URL | connection |
//! |---|---|
//! | `smtp://host:port` | plain text, no TLS: local relays and tests only |
//! | `smtp://host:587?tls=required` | STARTTLS, and refuse to go on without it |
//! | `smtp://host:587?tls=opportunistic` | STARTTLS when the server offers it, else plain text |
//! | `smtps://host:465` | TLS from the first byte (implicit TLS) |
//! | `smtp://user:pass@host…` | AUTH with these credentials (percent-decoded: `%40` for `@`) |
//!
//! Without a port: 465 for `smtps`, 587 with `tls=`, else 25. `tls=none` is the plain
//! default spelled out. Certificates are checked against the Mozilla roots (webpki-roots)
//! plus, when `SmtpSettings::ca_file` is given, that PEM file's certificates (a private CA,
//! or a self-signed server certificate) — for STARTTLS and implicit TLS alike.
//!
//! TLS is rustls with the *ring* provider, picked by lettre itself (lettre's `ring`
//! feature): lettre uses the process-wide default provider when one is installed, else
//! ring explicitly, so the aws-lc-rs that other crates compile into the same rustls never
//! makes it panic over an ambiguous default.
//!
//! Errors say whether trying again can help: a 5xx reply is `Permanent`, everything else
//! (refused connection, timeout, 4xx, TLS trouble) `Transient` — and so are refusals of
//! our AUTH (530, 534, 535, 538), which are about the settings, not the mail. The pool of SMTP
//! connections is created on the first send, inside the caller's runtime (lettre spawns
//! its cleaner task when the pool is built).

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

/// One message ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Without angle brackets, e.g. `3f2c…@medgrid`; the same id on every retry (receivers
    /// can drop duplicates, and the outbox keeps one file per id).
    pub message_id: String,
    /// A mailbox, e.g. `Medgrid <medgrid@example.org>`.
    pub from: String,
    /// A bare address.
    pub to: String,
    /// The recipient's display name.
    pub to_name: Option<String>,
    pub subject: String,
    /// The text/plain alternative.
    pub text: String,
    /// The text/html alternative.
    pub html: String,
    /// Extra headers, e.g. `("List-Unsubscribe", "<https://…>")`,
    /// `("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")`,
    /// `("Auto-Submitted", "auto-generated")`. The headers this module sets itself (From,
    /// To, Subject, Message-ID, Date, MIME and content headers, Cc, Bcc) are refused.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Try again later: server unreachable, timeout, 4xx, TLS handshake trouble.
    #[error("mail not sent yet: {0}")]
    Transient(String),
    /// The server refused for good (5xx), e.g. 550 unknown recipient: retrying will not help.
    #[error("mail refused: {0}")]
    Permanent(String),
    /// The mail itself cannot be built (bad address/header): also for good.
    #[error("mail cannot be built: {0}")]
    Invalid(String),
}

impl SendError {
    /// Whether sending the same mail again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Sends mail somewhere.
#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError>;
    /// Where mail goes, for logs, e.g. `smtp://mail.example.org:587 (STARTTLS)`: never the
    /// password.
    fn describe(&self) -> String;
}

/// An SMTP server (URL forms in the module doc).
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub url: SecretString,
    /// Extra trusted certificates (PEM), e.g. a private CA.
    pub ca_file: Option<PathBuf>,
    /// For connecting and for each command.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum MailSettings {
    Smtp(SmtpSettings),
    /// Each mail becomes `<dir>/<message id>.eml`.
    Outbox(PathBuf),
}

/// A mail setting that cannot work. Messages never contain the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error("bad SMTP URL: {0}")]
    BadUrl(String),
    #[error("SMTP URL scheme {0:?} is not smtp or smtps")]
    UnknownScheme(String),
    #[error("SMTP URL tls={0:?} is not none, opportunistic or required")]
    UnknownTls(String),
    #[error("cannot read the SMTP CA file {path}: {source}")]
    CaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the SMTP CA file {path} holds no usable PEM certificate: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error("SMTP TLS settings: {0}")]
    Tls(String),
    #[error("the mail sender {0:?} is not an address such as \"Medgrid <medgrid@example.org>\"")]
    BadSender(String),
}

/// Checks the From of every mail once, at start: a bad one would refuse every mail.
pub fn check_sender(from: &str) -> Result<(), MailSetupError> {
    from.parse::<Mailbox>()
        .map(|_| ())
        .map_err(|_| MailSetupError::BadSender(from.to_owned()))
}

/// The transport `settings` describe. Reads the CA file now; connects only when sending.
pub fn transport(settings: &MailSettings) -> Result<Arc<dyn MailTransport>, MailSetupError> {
    Ok(match settings {
        MailSettings::Smtp(smtp) => Arc::new(SmtpTransport::new(smtp)?),
        MailSettings::Outbox(dir) => Arc::new(OutboxTransport { dir: dir.clone() }),
    })
}

/// Headers built from `OutgoingMail`'s own fields: an extra header must not replace them.
const OWN_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// The RFC 5322 message for `mail`.
pub fn build_message(mail: &OutgoingMail) -> Result<Message, SendError> {
    let invalid = |what: &str, e: &dyn fmt::Display| SendError::Invalid(format!("{what}: {e}"));
    check_message_id(&mail.message_id)?;
    let from: Mailbox = mail
        .from
        .parse()
        .map_err(|e| invalid(&format!("sender {:?}", mail.from), &e))?;
    let address: Address = mail
        .to
        .parse()
        .map_err(|e| invalid(&format!("recipient {:?}", mail.to), &e))?;
    let mut builder = Message::builder()
        .from(from)
        .to(Mailbox::new(mail.to_name.clone(), address))
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}>", mail.message_id)))
        .date_now();
    for (name, value) in &mail.headers {
        builder = builder.raw_header(extra_header(name, value)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| invalid("message", &e))
}

fn check_message_id(id: &str) -> Result<(), SendError> {
    let printable = id
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    if id.is_empty() || !printable || !id.contains('@') || id.len() > 250 {
        return Err(SendError::Invalid(format!(
            "message id {id:?} is not `left@right` in printable ASCII without angle brackets"
        )));
    }
    Ok(())
}

fn extra_header(name: &str, value: &str) -> Result<HeaderValue, SendError> {
    // RFC 5322 field names: printable ASCII but the colon.
    let wellformed = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if !wellformed || OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(SendError::Invalid(format!(
            "header name {name:?} is not allowed"
        )));
    }
    // lettre would encode a line break rather than pass it, but such a value is a bug.
    if value.contains(['\r', '\n']) {
        return Err(SendError::Invalid(format!(
            "header {name} contains a line break"
        )));
    }
    let name = HeaderName::new_from_ascii(name.to_owned())
        .map_err(|e| SendError::Invalid(format!("header name {name:?}: {e}")))?;
    Ok(HeaderValue::new(name, value.to_owned()))
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    Opportunistic,
    StartTls,
    Implicit,
}

/// An SMTP URL taken apart.
struct SmtpUrl {
    host: String,
    port: u16,
    security: Security,
    user: Option<String>,
    password: Option<SecretString>,
}

fn parse_url(raw: &str) -> Result<SmtpUrl, MailSetupError> {
    // url's own messages ("invalid port number", …) never repeat the input.
    let url = url::Url::parse(raw).map_err(|e| MailSetupError::BadUrl(e.to_string()))?;
    let implicit = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        other => return Err(MailSetupError::UnknownScheme(other.to_owned())),
    };
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "tls" if tls.is_none() => tls = Some(value.into_owned()),
            "tls" => return Err(MailSetupError::BadUrl("tls is given twice".into())),
            other => {
                return Err(MailSetupError::BadUrl(format!(
                    "unknown parameter {other:?}"
                )));
            }
        }
    }
    let security = match (implicit, tls.as_deref()) {
        (true, None) => Security::Implicit,
        (true, Some(other)) => {
            return Err(MailSetupError::BadUrl(format!(
                "smtps is always TLS: tls={other:?} does not apply"
            )));
        }
        (false, None | Some("none")) => Security::Plain,
        (false, Some("opportunistic")) => Security::Opportunistic,
        (false, Some("required")) => Security::StartTls,
        (false, Some(other)) => return Err(MailSetupError::UnknownTls(other.to_owned())),
    };
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(MailSetupError::BadUrl("no host".into())),
    };
    if url.path() != "" && url.path() != "/" {
        return Err(MailSetupError::BadUrl("an SMTP URL has no path".into()));
    }
    let port = url.port().unwrap_or(match security {
        Security::Implicit => 465,
        Security::Plain => 25,
        Security::Opportunistic | Security::StartTls => 587,
    });
    let decode = |s: &str, what: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| MailSetupError::BadUrl(format!("the {what} is not UTF-8")))
    };
    let user = match url.username() {
        "" => None,
        u => Some(decode(u, "user name")?),
    };
    let password = match url.password() {
        None => None,
        Some(p) => Some(SecretString::from(decode(p, "password")?)),
    };
    if password.is_some() && user.is_none() {
        return Err(MailSetupError::BadUrl(
            "a password without a user name".into(),
        ));
    }
    Ok(SmtpUrl {
        host,
        port,
        security,
        user,
        password,
    })
}

struct SmtpTransport {
    builder: AsyncSmtpTransportBuilder,
    /// Built on the first send: lettre's pool spawns a task, which needs a runtime.
    inner: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    description: String,
    /// Never to appear in an error message.
    password: Option<SecretString>,
}

impl SmtpTransport {
    fn new(settings: &SmtpSettings) -> Result<Self, MailSetupError> {
        let url = parse_url(settings.url.expose_secret())?;
        let tls = match url.security {
            Security::Plain => Tls::None,
            security => {
                let parameters = tls_parameters(&url.host, settings.ca_file.as_deref())?;
                match security {
                    Security::Opportunistic => Tls::Opportunistic(parameters),
                    Security::StartTls => Tls::Required(parameters),
                    _ => Tls::Wrapper(parameters),
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .port(url.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(user) = &url.user {
            let password = url
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let scheme = if url.security == Security::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        let security = match url.security {
            Security::Plain => "plain text",
            Security::Opportunistic => "STARTTLS if offered",
            Security::StartTls => "STARTTLS",
            Security::Implicit => "TLS",
        };
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let mut description = format!("{scheme}://{host}:{} ({security}", url.port);
        if let Some(user) = &url.user {
            description.push_str(&format!(", AUTH as {user}"));
        }
        description.push(')');
        Ok(Self {
            builder,
            inner: OnceLock::new(),
            description,
            password: url.password,
        })
    }

    /// `SendError` for lettre's error: 5xx permanent, the rest transient — except the
    /// replies to AUTH (530, 534, 535, 538): those say the *sender's* credentials or
    /// settings are wrong, not the mail; once an operator fixes them the same mail goes
    /// through, so they are transient (lettre calls them permanent).
    fn classify(&self, error: &SmtpError) -> SendError {
        let mut text = format!("{}: {error}", self.description);
        if let Some(password) = &self.password {
            let password = password.expose_secret();
            if !password.is_empty() {
                text = text.replace(password, "***");
            }
        }
        let code = error.status().map(|c| c.to_string());
        if let Some(code @ ("530" | "534" | "535" | "538")) = code.as_deref() {
            SendError::Transient(format!(
                "{text} (authentication refused ({code}): check the SMTP credentials)"
            ))
        } else if error.is_permanent() {
            SendError::Permanent(text)
        } else {
            SendError::Transient(text)
        }
    }
}

fn tls_parameters(host: &str, ca_file: Option<&Path>) -> Result<TlsParameters, MailSetupError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| MailSetupError::CaFile {
            path: path.to_owned(),
            source,
        })?;
        // from_pem accepts a file without any certificate: that would trust nothing extra.
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(MailSetupError::BadCa {
                path: path.to_owned(),
                reason: "no BEGIN CERTIFICATE block".into(),
            });
        }
        let certificate = Certificate::from_pem(&pem).map_err(|e| MailSetupError::BadCa {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| MailSetupError::Tls(e.to_string()))
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let message = build_message(mail)?;
        let transport = self
            .inner
            .get_or_init(|| self.builder.clone().build::<Tokio1Executor>());
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| self.classify(&e))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Mail as `.eml` files in a directory, one per message id.
struct OutboxTransport {
    dir: PathBuf,
}

/// A file name for `id` that maps distinct ids to distinct names: bytes other than
/// `[A-Za-z0-9._@+-]` become `%XX` (and so does `%`).
fn file_stem(id: &str) -> String {
    let mut stem = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"._@+-".contains(&b) {
            stem.push(char::from(b));
        } else {
            stem.push_str(&format!("%{b:02X}"));
        }
    }
    stem
}

/// Writes `bytes` to `path` whole or not at all: a temporary file of its own, synced, then
/// renamed over (the same id written twice leaves one file, the last).
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[async_trait]
impl MailTransport for OutboxTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let bytes = build_message(mail)?.formatted();
        let dir = self.dir.clone();
        let path = dir.join(format!("{}.eml", file_stem(&mail.message_id)));
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &path, &bytes))
            .await
            .map_err(|e| SendError::Transient(format!("writing {shown}: {e}")))?
            .map_err(|e| SendError::Transient(format!("writing {shown}: {e}")))
    }

    fn describe(&self) -> String {
        format!("outbox directory {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_is_checked_at_start() {
        assert!(check_sender("Medgrid <medgrid@example.org>").is_ok());
        assert!(check_sender("medgrid@example.org").is_ok());
        assert!(matches!(
            check_sender("Medgrid"),
            Err(MailSetupError::BadSender(_))
        ));
    }

    fn mail(id: &str) -> OutgoingMail {
        OutgoingMail {
            message_id: id.into(),
            from: "Medgrid <medgrid@example.org>".into(),
            to: "ana@example.org".into(),
            to_name: Some("Ana Müller".into()),
            subject: "Job 7 succeeded — résumé".into(),
            text: "Your job finished.\nGrüße".into(),
            html: "<p>Your job finished.</p><p>Grüße</p>".into(),
            headers: vec![
                (
                    "List-Unsubscribe".into(),
                    "<https://medgrid.example.org/unsubscribe/mgu.a.b.c.d>".into(),
                ),
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into(),
                ),
                ("Auto-Submitted".into(), "auto-generated".into()),
            ],
        }
    }

    fn smtp(url: &str) -> MailSettings {
        MailSettings::Smtp(SmtpSettings {
            url: SecretString::from(url.to_owned()),
            ca_file: None,
            timeout: Duration::from_secs(5),
        })
    }

    #[test]
    fn formatted_message_carries_the_headers_and_both_parts() {
        let text = String::from_utf8(
            build_message(&mail("m1@medgrid"))
                .expect("build")
                .formatted(),
        )
        .expect("ascii");
        assert!(text.is_ascii(), "{text}");
        for expected in [
            "From: Medgrid <medgrid@example.org>",
            "Message-ID: <m1@medgrid>",
            "List-Unsubscribe: <https://medgrid.example.org/unsubscribe/mgu.a.b.c.d>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Auto-Submitted: auto-generated",
            "Content-Type: multipart/alternative",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Type: text/html; charset=utf-8",
            "Date: ",
        ] {
            assert!(text.contains(expected), "{expected:?} missing in\n{text}");
        }
        assert!(text.contains("To: =?utf-8?"), "{text}");
        assert!(text.contains("<ana@example.org>"), "{text}");
        assert!(text.contains("Subject: Job 7 succeeded =?utf-8?"), "{text}");
    }

    #[test]
    fn bad_mails_are_invalid() {
        let cases: [fn(&mut OutgoingMail); 7] = [
            |m| m.to = "not an address".into(),
            |m| m.from = "nobody".into(),
            |m| m.message_id = "<x@y>".into(),
            |m| m.message_id = "no-at-sign".into(),
            |m| m.headers.push(("Bcc".into(), "eve@example.org".into())),
            |m| m.headers.push(("X-Bad Name".into(), "v".into())),
            |m| {
                m.headers
                    .push(("X-Injected".into(), "a\r\nBcc: eve@x".into()))
            },
        ];
        for change in cases {
            let mut m = mail("m@medgrid");
            change(&mut m);
            assert!(
                matches!(build_message(&m), Err(SendError::Invalid(_))),
                "{m:?}"
            );
        }
    }

    #[tokio::test]
    async fn outbox_writes_one_parseable_file_per_id() {
        let dir = std::env::temp_dir()
            .join("medgrid-mail-tests")
            .join(uuid::Uuid::new_v4().to_string())
            .join("outbox");
        let outbox = transport(&MailSettings::Outbox(dir.clone())).expect("outbox");
        assert_eq!(
            outbox.describe(),
            format!("outbox directory {}", dir.display())
        );
        outbox.send(&mail("a/1@medgrid")).await.expect("first");
        outbox.send(&mail("a/1@medgrid")).await.expect("again");
        outbox.send(&mail("a_1@medgrid")).await.expect("other id");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a%2F1@medgrid.eml", "a_1@medgrid.eml"]);
        let text = std::fs::read_to_string(dir.join("a%2F1@medgrid.eml")).expect("read");
        let (head, body) = text.split_once("\r\n\r\n").expect("header/body separator");
        assert!(head.contains("Message-ID: <a/1@medgrid>"), "{head}");
        assert!(body.contains("text/html"), "{body}");
        let _ = std::fs::remove_dir_all(dir.parent().expect("parent"));
    }

    #[test]
    fn bad_urls_are_refused_without_the_password() {
        for url in [
            "http://user:hunter2@mail.example.org",
            "smtp://user:hunter2@mail.example.org?tls=sometimes",
            "smtp://user:hunter2@mail.example.org:99999",
            "smtp://user:hunter2@mail.example.org/path",
            "smtp://user:hunter2@mail.example.org?tls=required&x=1",
            "smtps://user:hunter2@mail.example.org?tls=required",
            "smtp://:hunter2@mail.example.org",
            "smtp://user:hunter2@",
            "hunter2",
        ] {
            let Err(e) = transport(&smtp(url)) else {
                panic!("{url} accepted");
            };
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{url}: {shown}");
        }
    }

    #[test]
    fn urls_describe_the_connection_without_the_password() {
        for (url, described) in [
            (
                "smtp://127.0.0.1:2525",
                "smtp://127.0.0.1:2525 (plain text)",
            ),
            ("smtp://relay", "smtp://relay:25 (plain text)"),
            (
                "smtp://a%40b:p%3Ass@mail.example.org?tls=required",
                "smtp://mail.example.org:587 (STARTTLS, AUTH as a@b)",
            ),
            (
                "smtp://mail.example.org?tls=opportunistic",
                "smtp://mail.example.org:587 (STARTTLS if offered)",
            ),
            ("smtps://u:p@[::1]", "smtps://[::1]:465 (TLS, AUTH as u)"),
        ] {
            let t = transport(&smtp(url)).expect(url);
            assert_eq!(t.describe(), described);
        }
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("medgrid-mail-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("ca.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        let settings = |ca: &Path| {
            MailSettings::Smtp(SmtpSettings {
                url: SecretString::from("smtps://mail.example.org".to_owned()),
                ca_file: Some(ca.to_owned()),
                timeout: Duration::from_secs(5),
            })
        };
        assert!(matches!(
            transport(&settings(&path)),
            Err(MailSetupError::BadCa { .. })
        ));
        assert!(matches!(
            transport(&settings(&dir.join("missing.pem"))),
            Err(MailSetupError::CaFile { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}

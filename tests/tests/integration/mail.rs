//! Sending mail through `medgrid_infra::mail` to a real SMTP server (npm smtp-server):
//! plain, STARTTLS with AUTH, implicit TLS, a refused recipient, an outage and recovery.
//! No database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use medgrid_infra::mail::{
    MailSettings, MailTransport, OutgoingMail, SendError, SmtpSettings, transport,
};
use medgrid_tests::smtp::{SmtpOptions, SmtpServer, SmtpTls};
use secrecy::SecretString;

const WAIT: Duration = Duration::from_millis(10_000);
const PASSWORD: &str = "s3cret/p@ss:w%rd";

fn mail(to: &str) -> OutgoingMail {
    OutgoingMail {
        message_id: format!("{}@medgrid.test", uuid::Uuid::new_v4().simple()),
        from: "Medgrid <medgrid@example.org>".into(),
        to: to.into(),
        to_name: Some("Ana Müller".into()),
        subject: "Job 42 succeeded — résultats".into(),
        text: "Your job 42 finished: https://medgrid.example.org/jobs/42".into(),
        html: "<p>Your job <b>42</b> finished.</p>".into(),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://medgrid.example.org/unsubscribe/mgu.t.m.JOB_SUCCEEDED.x>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
            ("Auto-Submitted".into(), "auto-generated".into()),
        ],
    }
}

fn smtp(url: &str, ca_file: Option<PathBuf>) -> Arc<dyn MailTransport> {
    transport(&MailSettings::Smtp(SmtpSettings {
        url: SecretString::from(url.to_owned()),
        ca_file,
        timeout: Duration::from_millis(5_000),
    }))
    .expect("mail settings")
}

/// The server and a transport pointed at it (trusting its certificate).
async fn server(options: SmtpOptions) -> (SmtpServer, Arc<dyn MailTransport>) {
    let server = SmtpServer::start(options).await;
    let transport = smtp(&server.url(), server.ca_file());
    (server, transport)
}

#[tokio::test]
async fn plain_smtp_delivers_both_parts_and_the_headers() {
    let (server, transport) = server(SmtpOptions::default()).await;
    assert_eq!(
        transport.describe(),
        format!("smtp://127.0.0.1:{} (plain text)", server.port)
    );
    let mail = mail("ana@example.org");
    transport.send(&mail).await.expect("sent");
    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(got.from, "medgrid@example.org");
    assert_eq!(got.to, ["ana@example.org"]);
    let raw = &got.raw;
    for expected in [
        format!("Message-ID: <{}>", mail.message_id),
        "From: Medgrid <medgrid@example.org>".into(),
        "<ana@example.org>".into(),
        "Subject: Job 42 succeeded =?utf-8?".into(),
        "List-Unsubscribe: <https://medgrid.example.org/unsubscribe/mgu.t.m.JOB_SUCCEEDED.x>"
            .into(),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click".into(),
        "Auto-Submitted: auto-generated".into(),
        "Content-Type: multipart/alternative".into(),
        "Content-Type: text/plain; charset=utf-8".into(),
        "Content-Type: text/html; charset=utf-8".into(),
        "Your job 42 finished: https://medgrid.example.org/jobs/42".into(),
        "<p>Your job <b>42</b> finished.</p>".into(),
    ] {
        assert!(raw.contains(&expected), "{expected:?} missing in\n{raw}");
    }
}

#[tokio::test]
async fn starttls_with_auth_delivers_and_a_wrong_password_is_transient() {
    let options = SmtpOptions {
        tls: SmtpTls::StartTls,
        auth: Some(("medgrid".into(), PASSWORD.into())),
        refuse: vec![],
    };
    let (server, transport) = server(options).await;
    assert!(server.url().contains("?tls=required"), "{}", server.url());
    assert_eq!(
        transport.describe(),
        format!(
            "smtp://127.0.0.1:{} (STARTTLS, AUTH as medgrid)",
            server.port
        )
    );
    transport
        .send(&mail("ana@example.org"))
        .await
        .expect("sent over STARTTLS with AUTH");
    assert_eq!(server.wait_for(1, WAIT).await[0].to, ["ana@example.org"]);

    // 535 is a 5xx reply, which lettre calls permanent; but it says nothing about the mail:
    // once the operator fixes the password the same mail goes through. Transient.
    let wrong = server.url().replace("s3cret", "wrong-secret");
    let err = smtp(&wrong, server.ca_file())
        .send(&mail("ana@example.org"))
        .await
        .expect_err("wrong password");
    let SendError::Transient(text) = &err else {
        panic!("expected a transient error: {err:?}");
    };
    assert!(text.contains("535"), "{text}");
    assert!(
        !text.contains("wrong-secret") && !text.contains("s3cret"),
        "{text}"
    );

    // Without the server's certificate trusted, TLS fails (and nothing is sent).
    let err = smtp(&server.url(), None)
        .send(&mail("ana@example.org"))
        .await
        .expect_err("unknown certificate");
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let (server, transport) = server(SmtpOptions {
        tls: SmtpTls::Implicit,
        ..SmtpOptions::default()
    })
    .await;
    assert_eq!(
        transport.describe(),
        format!("smtps://127.0.0.1:{} (TLS)", server.port)
    );
    let mail = mail("bo@example.org");
    transport.send(&mail).await.expect("sent over TLS");
    let received = server.wait_for(1, WAIT).await;
    assert!(received[0].raw.contains(&mail.message_id));
}

#[tokio::test]
async fn required_starttls_is_never_skipped() {
    // the server offers no STARTTLS: the mail must not go in plain text
    let server = SmtpServer::start(SmtpOptions::default()).await;
    let url = format!("smtp://127.0.0.1:{}?tls=required", server.port);
    let err = smtp(&url, None)
        .send(&mail("ana@example.org"))
        .await
        .expect_err("no STARTTLS");
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_refused_recipient_is_permanent() {
    let (server, transport) = server(SmtpOptions {
        refuse: vec!["nobody@".into()],
        ..SmtpOptions::default()
    })
    .await;
    let err = transport
        .send(&mail("nobody@example.org"))
        .await
        .expect_err("refused");
    let SendError::Permanent(text) = &err else {
        panic!("expected a permanent error: {err:?}");
    };
    assert!(
        text.contains("550") && text.contains("no such user"),
        "{text}"
    );
    // the connection is still good for the next mail
    transport
        .send(&mail("ana@example.org"))
        .await
        .expect("next mail");
    let received = server.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, ["ana@example.org"]);
}

#[tokio::test]
async fn an_outage_is_transient_and_the_same_mail_goes_through_after() {
    let (mut server, transport) = server(SmtpOptions::default()).await;
    transport
        .send(&mail("ana@example.org"))
        .await
        .expect("before the outage");

    server.stop().await;
    let retried = mail("ana@example.org");
    let err = transport.send(&retried).await.expect_err("server down");
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");

    server.start_again().await;
    transport.send(&retried).await.expect("after the outage");
    let received = server.wait_for(2, WAIT).await;
    assert_eq!(received.len(), 2);
    assert!(
        received[1]
            .raw
            .contains(&format!("Message-ID: <{}>", retried.message_id))
    );
}

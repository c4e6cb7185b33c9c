//! The words of the mails: subjects in code, bodies from the templates in
//! `templates/mail` (text and HTML; the HTML ones escape everything they insert, so a job
//! or folder named `<script>` arrives as text).

use askama::Template;
use medgrid_domain::notify::{Delivery, NotificationKind};

/// One thing that happened, as a line of a mail.
#[derive(Debug, Clone)]
pub struct Line {
    pub kind: NotificationKind,
    pub title: String,
    pub detail: String,
    /// Absolute link into the portal.
    pub url: String,
    /// When, in the reader's time zone.
    pub at: String,
}

/// The lines of one kind.
#[derive(Debug, Clone)]
pub struct Section {
    pub kind: NotificationKind,
    pub heading: &'static str,
    pub lines: Vec<Line>,
    /// Lines left out (a burst of a thousand jobs is a count, not a thousand lines).
    pub more: usize,
    pub more_url: String,
    /// One-click unsubscribe from this kind.
    pub unsubscribe: String,
}

/// A mail's words.
#[derive(Debug, Clone)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

/// Most lines shown per kind in one mail.
pub const LINES_PER_SECTION: usize = 25;

fn heading(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::JobStarted => "Jobs started",
        NotificationKind::JobSucceeded => "Jobs succeeded",
        NotificationKind::JobFailed => "Jobs failed",
        NotificationKind::JobRetried => "Jobs retried",
        NotificationKind::JobCancelled => "Jobs cancelled",
        NotificationKind::QuotaNearlyFull => "Storage nearly full",
        NotificationKind::FolderShared => "Folders shared with you",
        NotificationKind::TicketUpdated => "Tickets",
    }
}

/// "3 jobs succeeded" — a subject's part.
fn counted(kind: NotificationKind, n: usize) -> String {
    let (one, many) = match kind {
        NotificationKind::JobStarted => ("job started", "jobs started"),
        NotificationKind::JobSucceeded => ("job succeeded", "jobs succeeded"),
        NotificationKind::JobFailed => ("job failed", "jobs failed"),
        NotificationKind::JobRetried => ("job retried", "jobs retried"),
        NotificationKind::JobCancelled => ("job cancelled", "jobs cancelled"),
        NotificationKind::QuotaNearlyFull => ("quota nearly full", "quotas nearly full"),
        NotificationKind::FolderShared => ("folder shared", "folders shared"),
        NotificationKind::TicketUpdated => ("ticket update", "ticket updates"),
    };
    format!("{n} {}", if n == 1 { one } else { many })
}

fn updates(n: usize) -> String {
    format!("{n} update{}", if n == 1 { "" } else { "s" })
}

/// Groups lines by kind (in the order kinds are listed), at most
/// [`LINES_PER_SECTION`] each; `unsubscribe` gives each kind's link.
pub fn sections(
    lines: Vec<Line>,
    more_url: &str,
    unsubscribe: impl Fn(NotificationKind) -> String,
) -> Vec<Section> {
    NotificationKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let of_kind: Vec<Line> = lines.iter().filter(|l| l.kind == kind).cloned().collect();
            if of_kind.is_empty() {
                return None;
            }
            let more = of_kind.len().saturating_sub(LINES_PER_SECTION);
            Some(Section {
                kind,
                heading: heading(kind),
                lines: of_kind.into_iter().take(LINES_PER_SECTION).collect(),
                more,
                more_url: more_url.to_owned(),
                unsubscribe: unsubscribe(kind),
            })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "mail/notifications.txt")]
struct NotificationsText<'a> {
    name: &'a str,
    intro: &'a str,
    sections: &'a [Section],
    settings_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/notifications.html")]
struct NotificationsHtml<'a> {
    subject: &'a str,
    name: &'a str,
    intro: &'a str,
    sections: &'a [Section],
    settings_url: &'a str,
}

/// What the reader is told, and how it is said.
pub struct Notifications<'a> {
    pub delivery: Delivery,
    pub name: &'a str,
    /// For a digest: when its period ends, e.g. "Tuesday 1 December 2026, 08:00 CET".
    pub period: &'a str,
    pub sections: &'a [Section],
    pub settings_url: &'a str,
}

impl Notifications<'_> {
    fn subject(&self) -> String {
        let count = |s: &Section| s.lines.len() + s.more;
        let total: usize = self.sections.iter().map(count).sum();
        match self.delivery {
            Delivery::DailyDigest => format!("Your Medgrid daily digest: {}", updates(total)),
            Delivery::WeeklyDigest => format!("Your Medgrid weekly digest: {}", updates(total)),
            _ => match self.sections {
                [only] if count(only) == 1 => only
                    .lines
                    .first()
                    .map_or_else(|| counted(only.kind, 1), |l| l.title.clone()),
                _ => {
                    let parts: Vec<String> = self
                        .sections
                        .iter()
                        .map(|s| counted(s.kind, count(s)))
                        .collect();
                    format!("Medgrid: {}", parts.join(", "))
                }
            },
        }
    }

    fn intro(&self) -> String {
        match self.delivery {
            Delivery::DailyDigest => {
                format!(
                    "Here is your daily digest: everything up to {}.",
                    self.period
                )
            }
            Delivery::WeeklyDigest => {
                format!(
                    "Here is your weekly digest: everything up to {}.",
                    self.period
                )
            }
            _ => "Here is what just happened.".to_owned(),
        }
    }

    pub fn render(&self) -> Result<Composed, askama::Error> {
        let subject = self.subject();
        let intro = self.intro();
        let text = NotificationsText {
            name: self.name,
            intro: &intro,
            sections: self.sections,
            settings_url: self.settings_url,
        }
        .render()?;
        let html = NotificationsHtml {
            subject: &subject,
            name: self.name,
            intro: &intro,
            sections: self.sections,
            settings_url: self.settings_url,
        }
        .render()?;
        let mut headers = vec![("Auto-Submitted".to_owned(), "auto-generated".to_owned())];
        // RFC 8058 one-click unsubscribes from "the list": only a mail of one kind has one
        if let [only] = self.sections {
            headers.push((
                "List-Unsubscribe".to_owned(),
                format!("<{}>", only.unsubscribe),
            ));
            headers.push((
                "List-Unsubscribe-Post".to_owned(),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
        }
        Ok(Composed {
            subject,
            text,
            html,
            headers,
        })
    }
}

#[derive(Template)]
#[template(path = "mail/undeliverable.txt")]
struct UndeliverableText<'a> {
    name: &'a str,
    member: &'a str,
    address: &'a str,
    reason: &'a str,
    members_url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/undeliverable.html")]
struct UndeliverableHtml<'a> {
    subject: &'a str,
    name: &'a str,
    member: &'a str,
    address: &'a str,
    reason: &'a str,
    members_url: &'a str,
}

/// A tenant administrator is told that a member's address refuses mail.
pub struct Undeliverable<'a> {
    pub name: &'a str,
    pub member: &'a str,
    pub address: &'a str,
    pub reason: &'a str,
    pub members_url: &'a str,
}

impl Undeliverable<'_> {
    pub fn render(&self) -> Result<Composed, askama::Error> {
        let subject = format!("Medgrid: mail to {} is refused", self.member);
        let text = UndeliverableText {
            name: self.name,
            member: self.member,
            address: self.address,
            reason: self.reason,
            members_url: self.members_url,
        }
        .render()?;
        let html = UndeliverableHtml {
            subject: &subject,
            name: self.name,
            member: self.member,
            address: self.address,
            reason: self.reason,
            members_url: self.members_url,
        }
        .render()?;
        Ok(Composed {
            subject,
            text,
            html,
            headers: vec![("Auto-Submitted".to_owned(), "auto-generated".to_owned())],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: NotificationKind, title: &str) -> Line {
        Line {
            kind,
            title: title.to_owned(),
            detail: "exit code 0".to_owned(),
            url: "https://medgrid.example.org/jobs/1".to_owned(),
            at: "2026-12-01 10:00 CET".to_owned(),
        }
    }

    fn render(delivery: Delivery, lines: Vec<Line>) -> Composed {
        let sections = sections(lines, "https://m/jobs", |k| format!("https://m/u?k={k}"));
        Notifications {
            delivery,
            name: "Ada",
            period: "Tuesday 1 December 2026",
            sections: &sections,
            settings_url: "https://m/settings",
        }
        .render()
        .expect("render")
    }

    #[test]
    fn one_event_is_its_own_subject_with_a_one_click_unsubscribe() {
        let mail = render(
            Delivery::Immediate,
            vec![line(
                NotificationKind::JobSucceeded,
                "Job 1 (MRI 1.0) succeeded",
            )],
        );
        assert_eq!(mail.subject, "Job 1 (MRI 1.0) succeeded");
        assert!(mail.text.contains("Hello Ada,"));
        assert!(mail.text.contains("https://medgrid.example.org/jobs/1"));
        assert!(
            mail.text
                .contains("No more mail of this kind: https://m/u?k=JOB_SUCCEEDED")
        );
        assert!(mail.headers.contains(&(
            "List-Unsubscribe".to_owned(),
            "<https://m/u?k=JOB_SUCCEEDED>".to_owned()
        )));
    }

    #[test]
    fn a_burst_is_counted_and_cut_short() {
        let mut lines: Vec<Line> = (0..1000)
            .map(|i| {
                line(
                    NotificationKind::JobSucceeded,
                    &format!("Job {i} succeeded"),
                )
            })
            .collect();
        lines.push(line(NotificationKind::JobFailed, "Job x failed"));
        let mail = render(Delivery::Immediate, lines);
        assert_eq!(mail.subject, "Medgrid: 1000 jobs succeeded, 1 job failed");
        assert!(mail.text.contains("and 975 more"));
        assert_eq!(
            mail.text.matches("succeeded (2026").count(),
            LINES_PER_SECTION
        );
        assert!(
            !mail.headers.iter().any(|(h, _)| h == "List-Unsubscribe"),
            "two kinds: no single list to leave"
        );
    }

    #[test]
    fn html_escapes_what_it_inserts() {
        let mail = render(
            Delivery::DailyDigest,
            vec![line(
                NotificationKind::FolderShared,
                "<script>alert(1)</script>",
            )],
        );
        assert!(!mail.html.contains("<script>"));
        assert!(mail.html.contains("&#60;script&#62;"), "{}", mail.html);
        assert!(mail.text.contains("<script>"), "text is text");
        assert_eq!(mail.subject, "Your Medgrid daily digest: 1 update");
    }
}

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{Priority, TicketCommand, TicketError, TicketEvent};
use crate::idempotency::{Idempotency, Repeat, repeat};
use crate::ids::MemberId;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest body, comment or resolution, in characters.
pub const MAX_BODY: usize = 20_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TicketState {
    resolved: bool,
    priority: Priority,
    assignee: Option<MemberId>,
    #[serde(default)]
    idempotency: Option<Idempotency>,
}

/// A trouble ticket of one tenant. Its id is random (a ticket has no natural key).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    state: Option<TicketState>,
}

fn invalid(field: &'static str, rule: &'static str) -> TicketError {
    TicketError::Invalid { field, rule }
}

/// A text of 1 to `MAX_BODY` characters, not all blank.
fn text(field: &'static str, value: &str, rule: &'static str) -> Result<(), TicketError> {
    if value.trim().is_empty() || value.chars().count() > MAX_BODY {
        return Err(invalid(field, rule));
    }
    Ok(())
}

impl Ticket {
    fn decide(&self, command: TicketCommand) -> Result<Vec<TicketEvent>, TicketError> {
        let state = match (&self.state, command) {
            (
                None,
                TicketCommand::Open {
                    tenant_id,
                    reporter,
                    title,
                    body,
                    job_id,
                    priority,
                    idempotency,
                },
            ) => {
                let title = title.trim().to_owned();
                if title.is_empty() || title.chars().count() > MAX_TITLE {
                    return Err(invalid("title", "must be 1 to 200 characters"));
                }
                if body.chars().count() > MAX_BODY {
                    return Err(invalid("body", "must be at most 20000 characters"));
                }
                return Ok(vec![TicketEvent::TicketOpened {
                    tenant_id,
                    reporter,
                    title,
                    body,
                    job_id,
                    priority,
                    idempotency,
                }]);
            }
            (
                Some(s),
                TicketCommand::Open {
                    idempotency: Some(i),
                    ..
                },
            ) => {
                return match repeat(s.idempotency.as_ref(), Some(&i)) {
                    Repeat::Same => Ok(vec![]),
                    Repeat::Conflict => Err(TicketError::KeyReused),
                };
            }
            (Some(_), TicketCommand::Open { .. }) => return Err(TicketError::AlreadyExists),
            (None, _) => return Err(TicketError::NotFound),
            (Some(state), command) => (state, command),
        };
        match state {
            (_, TicketCommand::Open { .. }) => Err(TicketError::AlreadyExists),
            (s, TicketCommand::Comment { .. }) if s.resolved => Err(TicketError::Resolved),
            (_, TicketCommand::Comment { author, body }) => {
                text("body", &body, "must be 1 to 20000 characters")?;
                Ok(vec![TicketEvent::TicketCommented { author, body }])
            }
            (s, TicketCommand::Assign { assignee }) if s.assignee == Some(assignee) => Ok(vec![]),
            (_, TicketCommand::Assign { assignee }) => {
                Ok(vec![TicketEvent::TicketAssigned { assignee }])
            }
            (s, TicketCommand::SetPriority(p)) if s.priority == p => Ok(vec![]),
            (_, TicketCommand::SetPriority(priority)) => {
                Ok(vec![TicketEvent::TicketPriorityChanged { priority }])
            }
            (s, TicketCommand::Resolve { .. }) if s.resolved => Err(TicketError::Resolved),
            (_, TicketCommand::Resolve { resolution }) => {
                text("resolution", &resolution, "must be 1 to 20000 characters")?;
                Ok(vec![TicketEvent::TicketResolved { resolution }])
            }
            (s, TicketCommand::Reopen) if !s.resolved => Err(TicketError::NotResolved),
            (_, TicketCommand::Reopen) => Ok(vec![TicketEvent::TicketReopened]),
        }
    }
}

impl Aggregate for Ticket {
    const TYPE: &'static str = "Ticket";
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let decision = self.decide(command);
        crate::decide::record(self, decision, sink).await
    }

    fn apply(&mut self, event: Self::Event) {
        if let TicketEvent::TicketOpened {
            priority,
            idempotency,
            ..
        } = &event
        {
            self.state = Some(TicketState {
                resolved: false,
                priority: *priority,
                assignee: None,
                idempotency: idempotency.clone(),
            });
            return;
        }
        let Some(s) = self.state.as_mut() else {
            return;
        };
        match event {
            TicketEvent::TicketOpened { .. } | TicketEvent::TicketCommented { .. } => {}
            TicketEvent::TicketAssigned { assignee } => s.assignee = Some(assignee),
            TicketEvent::TicketPriorityChanged { priority } => s.priority = priority,
            TicketEvent::TicketResolved { .. } => s.resolved = true,
            TicketEvent::TicketReopened => s.resolved = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::ids::{JobId, TenantId};

    type Given = TestFramework<Ticket>;

    fn reporter() -> MemberId {
        MemberId::from_uuid(uuid::Uuid::from_u128(7))
    }

    fn tenant() -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(1))
    }

    fn open(title: &str, body: &str) -> TicketCommand {
        TicketCommand::Open {
            tenant_id: tenant(),
            reporter: reporter(),
            title: title.into(),
            body: body.into(),
            job_id: None,
            priority: Priority::Normal,
            idempotency: None,
        }
    }

    fn opened() -> TicketEvent {
        TicketEvent::TicketOpened {
            tenant_id: tenant(),
            reporter: reporter(),
            title: "Job stuck".into(),
            body: "It never starts".into(),
            job_id: None,
            priority: Priority::Normal,
            idempotency: None,
        }
    }

    fn resolved() -> TicketEvent {
        TicketEvent::TicketResolved {
            resolution: "fixed".into(),
        }
    }

    #[test]
    fn opens_once_with_a_trimmed_title() {
        Given::with(())
            .given_no_previous_events()
            .when(open("  Job stuck ", "It never starts"))
            .then_expect_events(vec![opened()]);
        Given::with(())
            .given(vec![opened()])
            .when(open("Job stuck", "again"))
            .then_expect_error(TicketError::AlreadyExists);
        let job = JobId::random();
        Given::with(())
            .given_no_previous_events()
            .when(TicketCommand::Open {
                tenant_id: tenant(),
                reporter: reporter(),
                title: "t".into(),
                body: String::new(),
                job_id: Some(job),
                priority: Priority::Urgent,
                idempotency: None,
            })
            .then_expect_events(vec![TicketEvent::TicketOpened {
                tenant_id: tenant(),
                reporter: reporter(),
                title: "t".into(),
                body: String::new(),
                job_id: Some(job),
                priority: Priority::Urgent,
                idempotency: None,
            }]);
    }

    #[test]
    fn refuses_oversized_or_empty_texts() {
        let long_title = "x".repeat(MAX_TITLE + 1);
        let long_body = "é".repeat(MAX_BODY + 1);
        for (title, body, field) in [
            (long_title.as_str(), "b", "title"),
            ("   ", "b", "title"),
            ("t", long_body.as_str(), "body"),
        ] {
            let result = Given::with(())
                .given_no_previous_events()
                .when(open(title, body))
                .inspect_result();
            assert!(
                matches!(result, Err(TicketError::Invalid { field: f, .. }) if f == field),
                "{field}: {result:?}"
            );
        }
        // exactly at the limits is fine (characters, not bytes)
        Given::with(())
            .given_no_previous_events()
            .when(open(&"t".repeat(MAX_TITLE), &"é".repeat(MAX_BODY)))
            .inspect_result()
            .expect("at the limits");
        for body in [long_body.clone(), " \n".into()] {
            Given::with(())
                .given(vec![opened()])
                .when(TicketCommand::Comment {
                    author: reporter(),
                    body,
                })
                .then_expect_error(TicketError::Invalid {
                    field: "body",
                    rule: "must be 1 to 20000 characters",
                });
        }
        Given::with(())
            .given(vec![opened()])
            .when(TicketCommand::Resolve {
                resolution: long_body,
            })
            .then_expect_error(TicketError::Invalid {
                field: "resolution",
                rule: "must be 1 to 20000 characters",
            });
    }

    #[test]
    fn a_resolved_ticket_takes_comments_only_once_reopened() {
        let comment = || TicketCommand::Comment {
            author: reporter(),
            body: "still broken".into(),
        };
        Given::with(())
            .given(vec![opened(), resolved()])
            .when(comment())
            .then_expect_error(TicketError::Resolved);
        Given::with(())
            .given(vec![opened(), resolved()])
            .when(TicketCommand::Resolve {
                resolution: "again".into(),
            })
            .then_expect_error(TicketError::Resolved);
        Given::with(())
            .given(vec![opened()])
            .when(TicketCommand::Reopen)
            .then_expect_error(TicketError::NotResolved);
        Given::with(())
            .given(vec![opened(), resolved()])
            .when(TicketCommand::Reopen)
            .then_expect_events(vec![TicketEvent::TicketReopened]);
        Given::with(())
            .given(vec![opened(), resolved(), TicketEvent::TicketReopened])
            .when(comment())
            .then_expect_events(vec![TicketEvent::TicketCommented {
                author: reporter(),
                body: "still broken".into(),
            }]);
    }

    #[test]
    fn assigns_and_prioritises_idempotently() {
        let admin = MemberId::random();
        Given::with(())
            .given(vec![opened()])
            .when(TicketCommand::Assign { assignee: admin })
            .then_expect_events(vec![TicketEvent::TicketAssigned { assignee: admin }]);
        Given::with(())
            .given(vec![
                opened(),
                TicketEvent::TicketAssigned { assignee: admin },
            ])
            .when(TicketCommand::Assign { assignee: admin })
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![opened()])
            .when(TicketCommand::SetPriority(Priority::Normal))
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![opened()])
            .when(TicketCommand::SetPriority(Priority::High))
            .then_expect_events(vec![TicketEvent::TicketPriorityChanged {
                priority: Priority::High,
            }]);
        Given::with(())
            .given_no_previous_events()
            .when(TicketCommand::Reopen)
            .then_expect_error(TicketError::NotFound);
    }
}

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{TenantCommand, TenantError, TenantEvent};
use crate::names::{DisplayName, TenantSlug};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantStatus {
    Active,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TenantState {
    slug: TenantSlug,
    name: DisplayName,
    status: TenantStatus,
}

/// An institution. Its id is derived from its slug, so a slug is taken at most once.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    state: Option<TenantState>,
}

impl Tenant {
    pub fn exists(&self) -> bool {
        self.state.is_some()
    }

    pub fn status(&self) -> Option<TenantStatus> {
        self.state.as_ref().map(|s| s.status)
    }

    fn decide(&self, command: TenantCommand) -> Result<Vec<TenantEvent>, TenantError> {
        match (command, &self.state) {
            (TenantCommand::Create { slug, name }, None) => {
                Ok(vec![TenantEvent::TenantCreated { slug, name }])
            }
            (TenantCommand::Create { .. }, Some(_)) => Err(TenantError::AlreadyExists),
            (_, None) => Err(TenantError::NotFound),
            (TenantCommand::Rename { name }, Some(state)) if name == state.name => Ok(vec![]),
            (TenantCommand::Rename { name }, Some(_)) => {
                Ok(vec![TenantEvent::TenantRenamed { name }])
            }
            (TenantCommand::Suspend { reason }, Some(state)) => {
                let reason = reason.trim().to_owned();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(TenantError::InvalidReason);
                }
                if state.status == TenantStatus::Suspended {
                    return Err(TenantError::AlreadySuspended);
                }
                Ok(vec![TenantEvent::TenantSuspended { reason }])
            }
            (TenantCommand::Reactivate, Some(state)) => {
                if state.status == TenantStatus::Active {
                    return Err(TenantError::NotSuspended);
                }
                Ok(vec![TenantEvent::TenantReactivated])
            }
        }
    }
}

impl Aggregate for Tenant {
    const TYPE: &'static str = "Tenant";
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = TenantError;
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
        match event {
            TenantEvent::TenantCreated { slug, name } => {
                self.state = Some(TenantState {
                    slug,
                    name,
                    status: TenantStatus::Active,
                });
            }
            TenantEvent::TenantRenamed { name } => {
                if let Some(s) = self.state.as_mut() {
                    s.name = name;
                }
            }
            TenantEvent::TenantSuspended { .. } => {
                if let Some(s) = self.state.as_mut() {
                    s.status = TenantStatus::Suspended;
                }
            }
            TenantEvent::TenantReactivated => {
                if let Some(s) = self.state.as_mut() {
                    s.status = TenantStatus::Active;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    type Given = TestFramework<Tenant>;

    fn created() -> TenantEvent {
        TenantEvent::TenantCreated {
            slug: "demo".parse().expect("slug"),
            name: "Demo".parse().expect("name"),
        }
    }

    #[test]
    fn creates_once() {
        Given::with(())
            .given_no_previous_events()
            .when(TenantCommand::Create {
                slug: "demo".parse().expect("slug"),
                name: "Demo".parse().expect("name"),
            })
            .then_expect_events(vec![created()]);
        Given::with(())
            .given(vec![created()])
            .when(TenantCommand::Create {
                slug: "demo".parse().expect("slug"),
                name: "Other".parse().expect("name"),
            })
            .then_expect_error(TenantError::AlreadyExists);
    }

    #[test]
    fn suspends_and_reactivates() {
        Given::with(())
            .given(vec![created()])
            .when(TenantCommand::Suspend {
                reason: " unpaid ".into(),
            })
            .then_expect_events(vec![TenantEvent::TenantSuspended {
                reason: "unpaid".into(),
            }]);
        Given::with(())
            .given(vec![
                created(),
                TenantEvent::TenantSuspended { reason: "x".into() },
            ])
            .when(TenantCommand::Suspend { reason: "y".into() })
            .then_expect_error(TenantError::AlreadySuspended);
        Given::with(())
            .given(vec![created()])
            .when(TenantCommand::Reactivate)
            .then_expect_error(TenantError::NotSuspended);
        Given::with(())
            .given(vec![created()])
            .when(TenantCommand::Suspend { reason: " ".into() })
            .then_expect_error(TenantError::InvalidReason);
    }

    #[test]
    fn commands_on_a_missing_tenant_are_not_found() {
        Given::with(())
            .given_no_previous_events()
            .when(TenantCommand::Rename {
                name: "X".parse().expect("name"),
            })
            .then_expect_error(TenantError::NotFound);
    }

    #[test]
    fn renaming_to_the_same_name_is_a_no_op() {
        Given::with(())
            .given(vec![created()])
            .when(TenantCommand::Rename {
                name: "Demo".parse().expect("name"),
            })
            .then_expect_events(vec![]);
    }
}

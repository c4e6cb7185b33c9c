use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{ApplicationCommand, ApplicationError, ApplicationEvent};
use crate::catalog::Descriptor;
use crate::ids::TenantId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ApplicationState {
    tenant_id: TenantId,
    enabled: bool,
}

/// Its id is derived from (tenant, name, tool version): a version is registered once.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    state: Option<ApplicationState>,
}

impl Application {
    fn decide(
        &self,
        command: ApplicationCommand,
    ) -> Result<Vec<ApplicationEvent>, ApplicationError> {
        match (&self.state, command) {
            (
                None,
                ApplicationCommand::Register {
                    tenant_id,
                    descriptor,
                },
            ) => {
                let parsed = Descriptor::parse(&descriptor)?;
                Ok(vec![ApplicationEvent::ApplicationRegistered {
                    tenant_id,
                    name: parsed.name,
                    version: parsed.tool_version,
                    descriptor,
                }])
            }
            (Some(_), ApplicationCommand::Register { .. }) => Err(ApplicationError::AlreadyExists),
            (None, _) => Err(ApplicationError::NotFound),
            (Some(s), ApplicationCommand::Enable) if s.enabled => Ok(vec![]),
            (Some(_), ApplicationCommand::Enable) => Ok(vec![ApplicationEvent::ApplicationEnabled]),
            (Some(s), ApplicationCommand::Disable) if !s.enabled => Ok(vec![]),
            (Some(_), ApplicationCommand::Disable) => {
                Ok(vec![ApplicationEvent::ApplicationDisabled])
            }
        }
    }
}

impl Aggregate for Application {
    const TYPE: &'static str = "Application";
    type Command = ApplicationCommand;
    type Event = ApplicationEvent;
    type Error = ApplicationError;
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
            ApplicationEvent::ApplicationRegistered { tenant_id, .. } => {
                self.state = Some(ApplicationState {
                    tenant_id,
                    enabled: true,
                });
            }
            ApplicationEvent::ApplicationEnabled => {
                if let Some(s) = self.state.as_mut() {
                    s.enabled = true;
                }
            }
            ApplicationEvent::ApplicationDisabled => {
                if let Some(s) = self.state.as_mut() {
                    s.enabled = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use serde_json::json;

    use super::*;
    use crate::catalog::descriptor::tests::sample;

    type Given = TestFramework<Application>;

    fn tenant() -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(3))
    }

    fn registered() -> ApplicationEvent {
        ApplicationEvent::ApplicationRegistered {
            tenant_id: tenant(),
            name: "dose-calc".into(),
            version: "1.2".into(),
            descriptor: sample(),
        }
    }

    #[test]
    fn registers_a_valid_descriptor_once() {
        Given::with(())
            .given_no_previous_events()
            .when(ApplicationCommand::Register {
                tenant_id: tenant(),
                descriptor: sample(),
            })
            .then_expect_events(vec![registered()]);
        Given::with(())
            .given(vec![registered()])
            .when(ApplicationCommand::Register {
                tenant_id: tenant(),
                descriptor: sample(),
            })
            .then_expect_error(ApplicationError::AlreadyExists);
    }

    #[test]
    fn refuses_an_invalid_descriptor_naming_the_field() {
        let mut bad = sample();
        bad["inputs"][0]["type"] = json!("Image");
        let result = Given::with(())
            .given_no_previous_events()
            .when(ApplicationCommand::Register {
                tenant_id: tenant(),
                descriptor: bad,
            })
            .inspect_result();
        let Err(ApplicationError::InvalidDescriptor(e)) = result else {
            panic!("expected an invalid descriptor: {result:?}");
        };
        assert_eq!(e.field, "inputs[0].type");
    }

    #[test]
    fn enabling_is_idempotent() {
        Given::with(())
            .given(vec![registered()])
            .when(ApplicationCommand::Enable)
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![registered()])
            .when(ApplicationCommand::Disable)
            .then_expect_events(vec![ApplicationEvent::ApplicationDisabled]);
    }
}

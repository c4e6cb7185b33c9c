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
    /// Snapshots taken before applications could be networked were not.
    #[serde(default)]
    networked: bool,
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
            (Some(s), ApplicationCommand::SetNetworked { networked })
                if s.networked == networked =>
            {
                Ok(vec![])
            }
            (Some(_), ApplicationCommand::SetNetworked { networked }) => {
                Ok(vec![ApplicationEvent::ApplicationNetworkedSet {
                    networked,
                }])
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
                    networked: false,
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
            ApplicationEvent::ApplicationNetworkedSet { networked } => {
                if let Some(s) = self.state.as_mut() {
                    s.networked = networked;
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

    fn networked(networked: bool) -> ApplicationEvent {
        ApplicationEvent::ApplicationNetworkedSet { networked }
    }

    fn set_networked(networked: bool) -> ApplicationCommand {
        ApplicationCommand::SetNetworked { networked }
    }

    #[test]
    fn a_registered_application_is_not_networked_until_set() {
        Given::with(())
            .given(vec![registered()])
            .when(set_networked(false))
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![registered()])
            .when(set_networked(true))
            .then_expect_events(vec![networked(true)]);
    }

    #[test]
    fn setting_networked_again_writes_nothing() {
        Given::with(())
            .given(vec![registered(), networked(true)])
            .when(set_networked(true))
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![registered(), networked(true)])
            .when(set_networked(false))
            .then_expect_events(vec![networked(false)]);
    }

    #[test]
    fn an_unknown_application_cannot_be_networked() {
        Given::with(())
            .given_no_previous_events()
            .when(set_networked(true))
            .then_expect_error(ApplicationError::NotFound);
    }
}

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::event::{ImportEvent, NewImport};
use super::{ImportCommand, ImportError};
use crate::ids::TenantId;

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportState {
    Requested,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "REQUESTED",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

const MAX_REASON: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ImportData {
    new: NewImport,
    state: ImportState,
    files: u64,
    bytes: u64,
    /// Files and bytes the whole import brings, once known.
    #[serde(default)]
    size: Option<(u64, u64)>,
}

/// One import into a folder of a space.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Import {
    data: Option<ImportData>,
}

fn reason(text: &str) -> Result<(), ImportError> {
    if text.trim().is_empty() || text.chars().count() > MAX_REASON {
        Err(ImportError::BadReason)
    } else {
        Ok(())
    }
}

impl Import {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.data.as_ref().map(|d| d.new.tenant_id)
    }

    pub fn state(&self) -> Option<ImportState> {
        self.data.as_ref().map(|d| d.state)
    }

    fn decide(&self, command: ImportCommand) -> Result<Vec<ImportEvent>, ImportError> {
        let data = match (&self.data, command) {
            (None, ImportCommand::Request(new)) => {
                return Ok(vec![ImportEvent::ImportRequested(new)]);
            }
            (None, _) => return Err(ImportError::NotFound),
            (Some(_), ImportCommand::Request(_)) => return Err(ImportError::AlreadyExists),
            (Some(data), command) => (data, command),
        };
        let (data, command) = data;
        if data.state.finished() {
            return Err(ImportError::Finished {
                state: data.state.as_str(),
            });
        }
        Ok(match command {
            ImportCommand::Request(_) => return Err(ImportError::AlreadyExists),
            ImportCommand::Start if data.state == ImportState::Running => vec![],
            ImportCommand::Start => vec![ImportEvent::ImportStarted],
            ImportCommand::Progress { .. } | ImportCommand::Size { .. }
                if data.state != ImportState::Running =>
            {
                return Err(ImportError::NotStarted);
            }
            ImportCommand::Size { files, bytes } if data.size == Some((files, bytes)) => vec![],
            ImportCommand::Size { files, bytes } => vec![ImportEvent::ImportSized { files, bytes }],
            ImportCommand::Progress { files, bytes }
                if files == data.files && bytes == data.bytes =>
            {
                vec![]
            }
            ImportCommand::Progress { files, bytes } => {
                vec![ImportEvent::ImportProgressed { files, bytes }]
            }
            ImportCommand::Succeed { .. } if data.state != ImportState::Running => {
                return Err(ImportError::NotStarted);
            }
            ImportCommand::Succeed {
                files,
                bytes,
                reason: why,
            } => {
                reason(&why)?;
                vec![ImportEvent::ImportSucceeded {
                    files,
                    bytes,
                    reason: why,
                }]
            }
            ImportCommand::Fail { reason: why } => {
                reason(&why)?;
                vec![ImportEvent::ImportFailed { reason: why }]
            }
            ImportCommand::Cancel { reason: why } => {
                reason(&why)?;
                vec![ImportEvent::ImportCancelled { reason: why }]
            }
        })
    }
}

impl Aggregate for Import {
    const TYPE: &'static str = "Import";
    type Command = ImportCommand;
    type Event = ImportEvent;
    type Error = ImportError;
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
        if let ImportEvent::ImportRequested(new) = event {
            self.data = Some(ImportData {
                new,
                state: ImportState::Requested,
                files: 0,
                bytes: 0,
                size: None,
            });
            return;
        }
        let Some(data) = self.data.as_mut() else {
            return;
        };
        match event {
            ImportEvent::ImportRequested(_) => {}
            ImportEvent::ImportStarted => data.state = ImportState::Running,
            ImportEvent::ImportSized { files, bytes } => data.size = Some((files, bytes)),
            ImportEvent::ImportProgressed { files, bytes } => {
                data.files = files;
                data.bytes = bytes;
            }
            ImportEvent::ImportSucceeded { files, bytes, .. } => {
                data.files = files;
                data.bytes = bytes;
                data.state = ImportState::Succeeded;
            }
            ImportEvent::ImportFailed { .. } => data.state = ImportState::Failed,
            ImportEvent::ImportCancelled { .. } => data.state = ImportState::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    use super::*;
    use crate::ids::{MemberId, NodeId, SpaceId};
    use crate::imports::ImportSource;

    type Given = TestFramework<Import>;

    fn new() -> NewImport {
        NewImport {
            tenant_id: TenantId::from_uuid(Uuid::from_u128(1)),
            owner: MemberId::from_uuid(Uuid::from_u128(2)),
            space_id: SpaceId::from_uuid(Uuid::from_u128(3)),
            folder: NodeId::from_uuid(Uuid::from_u128(4)),
            source: ImportSource::Url {
                url: "https://example.org/scan.nii".into(),
            },
            request_fingerprint: "sha256:0123456789abcdef".into(),
        }
    }

    fn requested() -> ImportEvent {
        ImportEvent::ImportRequested(new())
    }

    fn failed(why: &str) -> ImportEvent {
        ImportEvent::ImportFailed { reason: why.into() }
    }

    #[test]
    fn a_request_is_recorded_once() {
        Given::with(())
            .given_no_previous_events()
            .when(ImportCommand::Request(new()))
            .then_expect_events(vec![requested()]);
        Given::with(())
            .given(vec![requested()])
            .when(ImportCommand::Request(new()))
            .then_expect_error(ImportError::AlreadyExists);
    }

    #[test]
    fn nothing_happens_to_an_import_that_does_not_exist() {
        Given::with(())
            .given_no_previous_events()
            .when(ImportCommand::Start)
            .then_expect_error(ImportError::NotFound);
    }

    #[test]
    fn it_starts_once_and_a_restart_is_no_change() {
        Given::with(())
            .given(vec![requested()])
            .when(ImportCommand::Start)
            .then_expect_events(vec![ImportEvent::ImportStarted]);
        Given::with(())
            .given(vec![requested(), ImportEvent::ImportStarted])
            .when(ImportCommand::Start)
            .then_expect_events(vec![]);
    }

    #[test]
    fn progress_needs_a_running_import_and_a_change() {
        Given::with(())
            .given(vec![requested()])
            .when(ImportCommand::Progress { files: 1, bytes: 5 })
            .then_expect_error(ImportError::NotStarted);
        let running = vec![
            requested(),
            ImportEvent::ImportStarted,
            ImportEvent::ImportProgressed { files: 1, bytes: 5 },
        ];
        Given::with(())
            .given(running.clone())
            .when(ImportCommand::Progress { files: 1, bytes: 5 })
            .then_expect_events(vec![]);
        Given::with(())
            .given(running)
            .when(ImportCommand::Progress { files: 2, bytes: 9 })
            .then_expect_events(vec![ImportEvent::ImportProgressed { files: 2, bytes: 9 }]);
    }

    #[test]
    fn its_size_is_recorded_once_known_and_when_it_changes() {
        Given::with(())
            .given(vec![requested()])
            .when(ImportCommand::Size { files: 1, bytes: 5 })
            .then_expect_error(ImportError::NotStarted);
        let started = vec![requested(), ImportEvent::ImportStarted];
        Given::with(())
            .given(started.clone())
            .when(ImportCommand::Size {
                files: 3,
                bytes: 30,
            })
            .then_expect_events(vec![ImportEvent::ImportSized {
                files: 3,
                bytes: 30,
            }]);
        let sized = [
            started,
            vec![ImportEvent::ImportSized {
                files: 3,
                bytes: 30,
            }],
        ]
        .concat();
        Given::with(())
            .given(sized.clone())
            .when(ImportCommand::Size {
                files: 3,
                bytes: 30,
            })
            .then_expect_events(vec![]);
        Given::with(())
            .given(sized)
            .when(ImportCommand::Size {
                files: 4,
                bytes: 31,
            })
            .then_expect_events(vec![ImportEvent::ImportSized {
                files: 4,
                bytes: 31,
            }]);
    }

    #[test]
    fn it_succeeds_only_once_running() {
        let succeed = || ImportCommand::Succeed {
            files: 3,
            bytes: 30,
            reason: "Imported 3 files".into(),
        };
        Given::with(())
            .given(vec![requested()])
            .when(succeed())
            .then_expect_error(ImportError::NotStarted);
        Given::with(())
            .given(vec![requested(), ImportEvent::ImportStarted])
            .when(succeed())
            .then_expect_events(vec![ImportEvent::ImportSucceeded {
                files: 3,
                bytes: 30,
                reason: "Imported 3 files".into(),
            }]);
    }

    #[test]
    fn a_finished_import_changes_no_more() {
        for end in [
            failed("refused"),
            ImportEvent::ImportCancelled {
                reason: "by its owner".into(),
            },
        ] {
            let state = if matches!(end, ImportEvent::ImportFailed { .. }) {
                "FAILED"
            } else {
                "CANCELLED"
            };
            for command in [
                ImportCommand::Start,
                ImportCommand::Progress { files: 1, bytes: 1 },
                ImportCommand::Fail {
                    reason: "again".into(),
                },
                ImportCommand::Cancel {
                    reason: "again".into(),
                },
            ] {
                Given::with(())
                    .given(vec![requested(), ImportEvent::ImportStarted, end.clone()])
                    .when(command)
                    .then_expect_error(ImportError::Finished { state });
            }
        }
    }

    #[test]
    fn it_fails_or_is_cancelled_before_or_while_running_with_a_reason() {
        Given::with(())
            .given(vec![requested()])
            .when(ImportCommand::Fail {
                reason: "the address is private".into(),
            })
            .then_expect_events(vec![failed("the address is private")]);
        Given::with(())
            .given(vec![requested(), ImportEvent::ImportStarted])
            .when(ImportCommand::Cancel {
                reason: "Cancelled by its owner".into(),
            })
            .then_expect_events(vec![ImportEvent::ImportCancelled {
                reason: "Cancelled by its owner".into(),
            }]);
        Given::with(())
            .given(vec![requested()])
            .when(ImportCommand::Fail { reason: " ".into() })
            .then_expect_error(ImportError::BadReason);
    }

    #[test]
    fn the_state_follows_the_events() {
        let mut import = Import::default();
        assert_eq!(import.state(), None);
        import.apply(requested());
        assert_eq!(import.state(), Some(ImportState::Requested));
        import.apply(ImportEvent::ImportStarted);
        assert_eq!(import.state(), Some(ImportState::Running));
        import.apply(failed("x"));
        assert_eq!(import.state(), Some(ImportState::Failed));
        assert!(ImportState::Failed.finished());
    }
}

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{ResourceCommand, ResourceError, ResourceEvent, ResourceKind};
use crate::names::TenantSlug;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ResourceState {
    drained: bool,
}

/// A compute resource of the platform. Its id is derived from its name.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    state: Option<ResourceState>,
}

fn invalid(field: &'static str, rule: &'static str) -> ResourceError {
    ResourceError::Invalid { field, rule }
}

fn check_kind(kind: &ResourceKind) -> Result<(), ResourceError> {
    match kind {
        ResourceKind::Local { slots } if *slots == 0 || *slots > 1024 => {
            Err(invalid("slots", "must be 1 to 1024"))
        }
        ResourceKind::Slurm {
            partition,
            max_nodes,
            cores_per_node,
            walltime_limit_seconds,
            max_jobs,
        } => {
            let partition_ok = !partition.is_empty()
                && partition.len() <= 64
                && partition
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !partition_ok {
                return Err(invalid(
                    "partition",
                    "must be 1 to 64 of a-z, A-Z, 0-9, '-', '_', '.'",
                ));
            }
            if *max_nodes == 0 {
                return Err(invalid("maxNodes", "must be at least 1"));
            }
            if *cores_per_node == 0 {
                return Err(invalid("coresPerNode", "must be at least 1"));
            }
            if *max_jobs == 0 || *max_jobs > 100_000 {
                return Err(invalid("maxJobs", "must be 1 to 100000"));
            }
            if *walltime_limit_seconds < 60 {
                return Err(invalid("walltimeLimitSeconds", "must be at least 60"));
            }
            Ok(())
        }
        ResourceKind::Local { .. } => Ok(()),
    }
}

/// The most memory a resource may give an attempt by default: 16 TiB, beyond any node's.
const MAX_DEFAULT_MEMORY_MB: u64 = 16 << 20;

fn check_default_memory(memory_mb: Option<u64>) -> Result<(), ResourceError> {
    match memory_mb {
        Some(mb) if mb == 0 || mb > MAX_DEFAULT_MEMORY_MB => Err(invalid(
            "defaultMemoryMb",
            "must be 1 to 16777216 MiB (16 TiB)",
        )),
        _ => Ok(()),
    }
}

impl Resource {
    fn decide(&self, command: ResourceCommand) -> Result<Vec<ResourceEvent>, ResourceError> {
        match (&self.state, command) {
            (
                None,
                ResourceCommand::Register {
                    name,
                    kind,
                    access,
                    default_memory_mb,
                },
            ) => {
                // resource names follow the tenant slug rules: short, URL- and CLI-safe
                if name.parse::<TenantSlug>().is_err() {
                    return Err(invalid(
                        "name",
                        "must be 2 to 40 of a-z, 0-9 and '-', starting with a letter",
                    ));
                }
                check_kind(&kind)?;
                check_default_memory(default_memory_mb)?;
                Ok(vec![ResourceEvent::ResourceRegistered {
                    name,
                    kind,
                    access,
                    default_memory_mb,
                }])
            }
            (Some(_), ResourceCommand::Register { .. }) => Err(ResourceError::AlreadyExists),
            (None, _) => Err(ResourceError::NotFound),
            (Some(_), ResourceCommand::SetAccess(access)) => {
                Ok(vec![ResourceEvent::ResourceAccessChanged { access }])
            }
            (Some(s), ResourceCommand::Drain { .. }) if s.drained => Ok(vec![]),
            (Some(_), ResourceCommand::Drain { reason }) => {
                let reason = reason.trim().to_owned();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(invalid("reason", "must be 1 to 500 characters"));
                }
                Ok(vec![ResourceEvent::ResourceDrained { reason }])
            }
            (Some(s), ResourceCommand::Enable) if !s.drained => Ok(vec![]),
            (Some(_), ResourceCommand::Enable) => Ok(vec![ResourceEvent::ResourceEnabled]),
        }
    }
}

impl Aggregate for Resource {
    const TYPE: &'static str = "Resource";
    type Command = ResourceCommand;
    type Event = ResourceEvent;
    type Error = ResourceError;
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
            ResourceEvent::ResourceRegistered { .. } => {
                self.state = Some(ResourceState { drained: false });
            }
            ResourceEvent::ResourceAccessChanged { .. } => {}
            ResourceEvent::ResourceDrained { .. } => {
                if let Some(s) = self.state.as_mut() {
                    s.drained = true;
                }
            }
            ResourceEvent::ResourceEnabled => {
                if let Some(s) = self.state.as_mut() {
                    s.drained = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::compute::Access;

    type Given = TestFramework<Resource>;

    fn slurm(max_nodes: u32) -> ResourceKind {
        ResourceKind::Slurm {
            partition: "debug".into(),
            max_nodes,
            cores_per_node: 2,
            walltime_limit_seconds: 3600,
            max_jobs: 10,
        }
    }

    fn registered() -> ResourceEvent {
        ResourceEvent::ResourceRegistered {
            name: "hpc".into(),
            kind: slurm(4),
            access: Access::everyone(),
            default_memory_mb: None,
        }
    }

    fn register(name: &str, kind: ResourceKind, default_memory_mb: Option<u64>) -> ResourceCommand {
        ResourceCommand::Register {
            name: name.into(),
            kind,
            access: Access::everyone(),
            default_memory_mb,
        }
    }

    #[test]
    fn registers_valid_resources_once() {
        Given::with(())
            .given_no_previous_events()
            .when(register("hpc", slurm(4), None))
            .then_expect_events(vec![registered()]);
        Given::with(())
            .given(vec![registered()])
            .when(register("hpc", slurm(4), None))
            .then_expect_error(ResourceError::AlreadyExists);
    }

    #[test]
    fn refuses_impossible_resources() {
        for (name, kind, field) in [
            ("HPC", slurm(4), "name"),
            ("hpc", slurm(0), "maxNodes"),
            ("hpc", ResourceKind::Local { slots: 0 }, "slots"),
            (
                "hpc",
                ResourceKind::Slurm {
                    partition: "a b".into(),
                    max_nodes: 1,
                    cores_per_node: 1,
                    walltime_limit_seconds: 600,
                    max_jobs: 10,
                },
                "partition",
            ),
        ] {
            let result = Given::with(())
                .given_no_previous_events()
                .when(register(name, kind, None))
                .inspect_result();
            assert!(
                matches!(result, Err(ResourceError::Invalid { field: f, .. }) if f == field),
                "{field}: {result:?}"
            );
        }
    }

    #[test]
    fn registers_a_default_memory_per_attempt() {
        Given::with(())
            .given_no_previous_events()
            .when(register("hpc", slurm(4), Some(8192)))
            .then_expect_events(vec![ResourceEvent::ResourceRegistered {
                name: "hpc".into(),
                kind: slurm(4),
                access: Access::everyone(),
                default_memory_mb: Some(8192),
            }]);
        Given::with(())
            .given_no_previous_events()
            .when(register("hpc", slurm(4), Some(MAX_DEFAULT_MEMORY_MB)))
            .inspect_result()
            .expect("16 TiB is the most");
    }

    #[test]
    fn refuses_no_memory_and_absurd_memory() {
        for memory_mb in [0, MAX_DEFAULT_MEMORY_MB + 1, u64::MAX] {
            let result = Given::with(())
                .given_no_previous_events()
                .when(register("hpc", slurm(4), Some(memory_mb)))
                .inspect_result();
            assert!(
                matches!(
                    result,
                    Err(ResourceError::Invalid {
                        field: "defaultMemoryMb",
                        ..
                    })
                ),
                "{memory_mb}: {result:?}"
            );
        }
    }

    /// Events are forever: a registration recorded before resources had a default memory
    /// reads as one without.
    #[test]
    fn registrations_recorded_before_have_no_default_memory() {
        let recorded = serde_json::json!({"ResourceRegistered": {
            "name": "hpc", "kind": {"kind": "local", "slots": 2},
            "access": {"all_tenants": true, "tenants": [], "groups": []}
        }});
        let event: ResourceEvent = serde_json::from_value(recorded).expect("an old event");
        assert!(matches!(
            event,
            ResourceEvent::ResourceRegistered {
                default_memory_mb: None,
                ..
            }
        ));
    }

    #[test]
    fn drains_and_enables() {
        Given::with(())
            .given(vec![registered()])
            .when(ResourceCommand::Drain {
                reason: " maintenance ".into(),
            })
            .then_expect_events(vec![ResourceEvent::ResourceDrained {
                reason: "maintenance".into(),
            }]);
        Given::with(())
            .given(vec![
                registered(),
                ResourceEvent::ResourceDrained { reason: "x".into() },
            ])
            .when(ResourceCommand::Enable)
            .then_expect_events(vec![ResourceEvent::ResourceEnabled]);
        Given::with(())
            .given(vec![registered()])
            .when(ResourceCommand::Enable)
            .then_expect_events(vec![]);
    }

    #[test]
    fn access_by_tenant_or_group() {
        use crate::ids::{GroupId, TenantId};
        let (t, g) = (TenantId::random(), GroupId::random());
        let mut access = Access::default();
        assert!(!access.allows(t, [g].iter()));
        access.groups.insert(g);
        assert!(access.allows(t, [g].iter()));
        assert!(!access.allows(t, [].iter()));
        access.tenants.insert(t);
        assert!(access.allows(t, [].iter()));
        assert!(Access::everyone().allows(TenantId::random(), [].iter()));
    }
}

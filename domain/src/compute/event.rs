use std::collections::BTreeSet;

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::ids::{GroupId, TenantId};

/// How a resource runs jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ResourceKind {
    /// Processes on the Medgrid host, at most `slots` at a time.
    Local { slots: u32 },
    /// A Slurm partition.
    Slurm {
        partition: String,
        max_nodes: u32,
        cores_per_node: u32,
        walltime_limit_seconds: u64,
        /// Attempts Medgrid keeps at the cluster at once (Slurm queues the rest itself).
        #[serde(default = "default_max_jobs")]
        max_jobs: u32,
    },
}

fn default_max_jobs() -> u32 {
    ResourceKind::DEFAULT_MAX_JOBS
}

impl ResourceKind {
    pub const DEFAULT_MAX_JOBS: u32 = 200;

    /// How many attempts may be active on the resource at once.
    pub fn capacity(&self) -> usize {
        match self {
            Self::Local { slots } => *slots as usize,
            Self::Slurm { max_jobs, .. } => *max_jobs as usize,
        }
    }

    /// Tasks an attempt may start per node: what the application asks for, but never more
    /// than a cluster node has cores (Slurm would refuse the job). A local attempt takes
    /// what it asks for: it shares the machine like any process.
    pub fn tasks_per_node(&self, wanted: u32) -> u32 {
        match self {
            Self::Local { .. } => wanted.max(1),
            Self::Slurm { cores_per_node, .. } => wanted.clamp(1, (*cores_per_node).max(1)),
        }
    }
}

/// Who may use a resource: every tenant, or the listed tenants and groups.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Access {
    pub all_tenants: bool,
    pub tenants: BTreeSet<TenantId>,
    pub groups: BTreeSet<GroupId>,
}

impl Access {
    pub fn everyone() -> Self {
        Self {
            all_tenants: true,
            ..Self::default()
        }
    }

    /// Whether a member of `tenant` in `groups` may use the resource.
    pub fn allows<'a>(
        &self,
        tenant: TenantId,
        mut groups: impl Iterator<Item = &'a GroupId>,
    ) -> bool {
        self.all_tenants
            || self.tenants.contains(&tenant)
            || groups.any(|g| self.groups.contains(g))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ResourceEvent {
    ResourceRegistered {
        name: String,
        kind: ResourceKind,
        access: Access,
        /// Memory of an attempt whose application does not say (`suggested-resources.ram`);
        /// None: the installation's default. Resources registered before it existed have none.
        #[serde(default)]
        default_memory_mb: Option<u64>,
    },
    ResourceAccessChanged {
        access: Access,
    },
    /// No new attempt starts there; running ones finish.
    ResourceDrained {
        reason: String,
    },
    ResourceEnabled,
}

impl DomainEvent for ResourceEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ResourceRegistered { .. } => "ResourceRegistered",
            Self::ResourceAccessChanged { .. } => "ResourceAccessChanged",
            Self::ResourceDrained { .. } => "ResourceDrained",
            Self::ResourceEnabled => "ResourceEnabled",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

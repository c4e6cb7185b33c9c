//! GraphQL types of compute resources.

use async_graphql::{Enum, ID, InputObject, Object};
use medgrid_domain::compute::{Access, ResourceKind};
use medgrid_domain::ids::{GroupId, TenantId};
use medgrid_projections::resources::ResourceRow;

use crate::ApiError;
use crate::usecases::parse_id;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ResourceKind")]
pub enum KindName {
    Local,
    Slurm,
}

#[derive(InputObject)]
pub struct RegisterResourceInput {
    /// 2 to 40 of a-z, 0-9 and '-', starting with a letter; never changes.
    name: String,
    kind: KindName,
    /// LOCAL: attempts running at once.
    slots: Option<u32>,
    /// SLURM: the partition jobs are submitted to.
    partition: Option<String>,
    max_nodes: Option<u32>,
    cores_per_node: Option<u32>,
    walltime_limit_seconds: Option<u64>,
    /// SLURM: attempts Medgrid keeps at the cluster at once (default 200).
    max_jobs: Option<u32>,
    /// Memory (MiB, 1 to 16777216) of an attempt whose application does not say
    /// (`suggested-resources.ram`); left out: the installation's default.
    default_memory_mb: Option<i32>,
    /// Usable by every tenant; otherwise by `tenantIds` and members of `groupIds`.
    #[graphql(default)]
    all_tenants: bool,
    #[graphql(default)]
    tenant_ids: Vec<ID>,
    #[graphql(default)]
    group_ids: Vec<ID>,
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::invalid(format!("{field} is required for this kind")))
}

impl RegisterResourceInput {
    /// The validated parts: name, kind, access and default memory per attempt.
    pub fn parts(self) -> Result<(String, ResourceKind, Access, Option<u64>), ApiError> {
        let kind = match self.kind {
            KindName::Local => ResourceKind::Local {
                slots: required(self.slots, "slots")?,
            },
            KindName::Slurm => ResourceKind::Slurm {
                partition: required(self.partition, "partition")?,
                max_nodes: required(self.max_nodes, "maxNodes")?,
                cores_per_node: required(self.cores_per_node, "coresPerNode")?,
                walltime_limit_seconds: required(
                    self.walltime_limit_seconds,
                    "walltimeLimitSeconds",
                )?,
                max_jobs: self.max_jobs.unwrap_or(ResourceKind::DEFAULT_MAX_JOBS),
            },
        };
        let access = Access {
            all_tenants: self.all_tenants,
            tenants: self
                .tenant_ids
                .iter()
                .map(|id| parse_id::<TenantId>(id, "tenant"))
                .collect::<Result<_, _>>()?,
            groups: self
                .group_ids
                .iter()
                .map(|id| parse_id::<GroupId>(id, "group"))
                .collect::<Result<_, _>>()?,
        };
        // a negative amount is refused by the domain like zero, with the same words
        let default_memory_mb = self
            .default_memory_mb
            .map(|mb| u64::try_from(mb).unwrap_or(0));
        Ok((self.name, kind, access, default_memory_mb))
    }
}

pub struct Resource(pub ResourceRow);

impl Resource {
    fn kind(&self) -> Option<ResourceKind> {
        serde_json::from_value(self.0.kind.clone()).ok()
    }
}

#[Object]
impl Resource {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    #[graphql(name = "kind")]
    async fn kind_name(&self) -> KindName {
        match self.kind() {
            Some(ResourceKind::Slurm { .. }) => KindName::Slurm,
            _ => KindName::Local,
        }
    }
    async fn slots(&self) -> Option<u32> {
        match self.kind() {
            Some(ResourceKind::Local { slots }) => Some(slots),
            _ => None,
        }
    }
    async fn partition(&self) -> Option<String> {
        match self.kind() {
            Some(ResourceKind::Slurm { partition, .. }) => Some(partition),
            _ => None,
        }
    }
    /// Largest node count an attempt may ask for (1 on LOCAL).
    async fn max_nodes(&self) -> u32 {
        match self.kind() {
            Some(ResourceKind::Slurm { max_nodes, .. }) => max_nodes,
            _ => 1,
        }
    }
    async fn cores_per_node(&self) -> Option<u32> {
        match self.kind() {
            Some(ResourceKind::Slurm { cores_per_node, .. }) => Some(cores_per_node),
            _ => None,
        }
    }
    async fn walltime_limit_seconds(&self) -> Option<u64> {
        match self.kind() {
            Some(ResourceKind::Slurm {
                walltime_limit_seconds,
                ..
            }) => Some(walltime_limit_seconds),
            _ => None,
        }
    }
    /// Attempts that may be active on the resource at once.
    async fn capacity(&self) -> u32 {
        self.kind()
            .map_or(0, |k| u32::try_from(k.capacity()).unwrap_or(u32::MAX))
    }
    /// Memory (MiB) of an attempt whose application does not say; null: the
    /// installation's default.
    async fn default_memory_mb(&self) -> Option<i32> {
        self.0
            .default_memory_mb
            .and_then(|mb| i32::try_from(mb).ok())
    }
    async fn drained(&self) -> bool {
        self.0.drained
    }
    async fn drain_reason(&self) -> Option<&str> {
        self.0.drain_reason.as_deref()
    }
}

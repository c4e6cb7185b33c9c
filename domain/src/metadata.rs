//! Typed event metadata, stored by cqrs-es as a string map.

use std::collections::HashMap;

use uuid::Uuid;

use crate::ids::{MemberId, TenantId};

/// Who caused an event: a member, or the system itself (CLI, bootstrap, processors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Causer {
    Member(MemberId),
    System(String),
}

impl Causer {
    fn encode(&self) -> String {
        match self {
            Self::Member(id) => format!("member:{id}"),
            Self::System(name) => format!("system:{name}"),
        }
    }

    fn decode(s: &str) -> Option<Self> {
        match s.split_once(':')? {
            ("member", id) => id.parse().ok().map(Self::Member),
            ("system", name) => Some(Self::System(name.to_owned())),
            _ => None,
        }
    }
}

/// Metadata carried by every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    pub tenant_id: TenantId,
    pub actor: Causer,
    /// Shared by every event that one user action caused, across aggregates.
    pub correlation_id: Uuid,
    /// The event or request that directly caused this one.
    pub causation_id: Uuid,
    pub request_id: Option<String>,
}

const TENANT: &str = "tenant_id";
const ACTOR: &str = "actor";
const CORRELATION: &str = "correlation_id";
const CAUSATION: &str = "causation_id";
const REQUEST: &str = "request_id";

impl EventMetadata {
    /// Metadata for a fresh action: correlation and causation both start here.
    pub fn new(tenant_id: TenantId, actor: Causer, request_id: Option<String>) -> Self {
        let id = Uuid::now_v7();
        Self {
            tenant_id,
            actor,
            correlation_id: id,
            causation_id: id,
            request_id,
        }
    }

    /// The same action continuing in another tenant's scope (e.g. creating a tenant's first admin).
    pub fn for_tenant(&self, tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            ..self.clone()
        }
    }

    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            (TENANT.to_owned(), self.tenant_id.to_string()),
            (ACTOR.to_owned(), self.actor.encode()),
            (CORRELATION.to_owned(), self.correlation_id.to_string()),
            (CAUSATION.to_owned(), self.causation_id.to_string()),
        ]);
        if let Some(request) = &self.request_id {
            map.insert(REQUEST.to_owned(), request.clone());
        }
        map
    }

    /// Reads stored metadata; `None` when a required key is missing or malformed.
    pub fn from_map(map: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            tenant_id: map.get(TENANT)?.parse().ok()?,
            actor: Causer::decode(map.get(ACTOR)?)?,
            correlation_id: map.get(CORRELATION)?.parse().ok()?,
            causation_id: map.get(CAUSATION)?.parse().ok()?,
            request_id: map.get(REQUEST).cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_string_map() {
        let meta = EventMetadata::new(
            TenantId::random(),
            Causer::Member(MemberId::random()),
            Some("req-1".into()),
        );
        assert_eq!(EventMetadata::from_map(&meta.to_map()), Some(meta.clone()));
        let system = EventMetadata::new(TenantId::random(), Causer::System("cli".into()), None);
        assert_eq!(EventMetadata::from_map(&system.to_map()), Some(system));
        assert_eq!(EventMetadata::from_map(&HashMap::new()), None);
    }
}

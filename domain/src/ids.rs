//! Identifier newtypes. Ids that must be unique per natural key (a tenant slug, a member's
//! e-mail in a tenant) are derived from that key (UUID v5), so a duplicate creation lands on
//! an aggregate that already exists and is refused atomically by the event store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::names::{Email, TenantSlug};

/// Namespace for Medgrid's name-derived ids (a fixed, random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x6d3f_2a41_8c0e_4f7b_9a55_1d2e_7c44_0b19);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn random() -> Self {
                Self(Uuid::now_v7())
            }
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
            /// The id of what `member`'s request under `key` creates: a retry with the
            /// same key lands on the same aggregate (see [`crate::idempotency`]).
            pub fn for_request(member: MemberId, key: &crate::idempotency::IdempotencyKey) -> Self {
                let name = format!("{}:request:{key}", stringify!($name));
                Self(Uuid::new_v5(&member.as_uuid(), name.as_bytes()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An institution.
    TenantId
);
id_type!(
    /// A person (or service account) inside one tenant.
    MemberId
);
id_type!(
    /// A group of members inside one tenant.
    GroupId
);
id_type!(
    /// A personal access token.
    TokenId
);

id_type!(
    /// An application version in a tenant's catalog.
    ApplicationId
);

id_type!(
    /// A compute resource of the platform.
    ResourceId
);

id_type!(
    /// A job: one application run with its parameters, over one or more attempts.
    JobId
);

id_type!(
    /// An identity provider a tenant trusts.
    ProviderId
);

id_type!(
    /// A member's home or a group's space.
    SpaceId
);

id_type!(
    /// A folder or file in a space.
    NodeId
);

id_type!(
    /// The notification preferences of one member, or a tenant's defaults.
    PreferencesId
);

id_type!(
    /// A trouble ticket.
    TicketId
);

impl PreferencesId {
    /// A member's own preferences: one per member.
    pub fn of_member(member: MemberId) -> Self {
        Self(Uuid::new_v5(&member.0, b"notify:preferences"))
    }

    /// A tenant's defaults: one per tenant.
    pub fn of_tenant(tenant: TenantId) -> Self {
        Self(Uuid::new_v5(&tenant.0, b"notify:defaults"))
    }
}

id_type!(
    /// An import of files from outside into a folder of a space.
    ImportId
);

impl SpaceId {
    /// A member's home: one per member.
    pub fn home(member: MemberId) -> Self {
        Self(Uuid::new_v5(&member.0, b"space:home"))
    }

    /// A group's space: one per group.
    pub fn of_group(group: GroupId) -> Self {
        Self(Uuid::new_v5(&group.0, b"space:group"))
    }
}

impl NodeId {
    /// The root folder of a space: derived from the space, so a retried creation names
    /// the same root.
    pub fn root_of(space: SpaceId) -> Self {
        Self(Uuid::new_v5(&space.0, b"space:root"))
    }

    /// A node the system makes under `parent` for `key` (a job's output folder, one of its
    /// files): the same every time, so a retry lands on the node made before.
    pub fn derived(parent: NodeId, key: &str) -> Self {
        Self(Uuid::new_v5(&parent.0, key.as_bytes()))
    }

    /// A node an import makes for its item (or folder) `key`: the same every time the
    /// import is resumed, so an item recorded before a crash is not recorded twice.
    pub fn imported(import: ImportId, key: &str) -> Self {
        Self(Uuid::new_v5(&import.0, format!("import:{key}").as_bytes()))
    }

    /// The id of the copy of `original` made inside the copy `copy` of a folder: the same
    /// every time the copy is replayed.
    pub fn copied(copy: NodeId, original: NodeId) -> Self {
        Self(Uuid::new_v5(&copy.0, original.0.as_bytes()))
    }
}

impl ResourceId {
    /// The id of the resource with this name: a name is taken at most once.
    pub fn for_name(name: &str) -> Self {
        Self(Uuid::new_v5(
            &NAMESPACE,
            format!("resource:{name}").as_bytes(),
        ))
    }
}

impl TenantId {
    /// The id of the tenant with this slug: the same slug always gives the same id.
    pub fn for_slug(slug: &TenantSlug) -> Self {
        Self(Uuid::new_v5(
            &NAMESPACE,
            format!("tenant:{slug}").as_bytes(),
        ))
    }
}

impl MemberId {
    /// The id of the local account with this e-mail in this tenant.
    pub fn for_email(tenant: TenantId, email: &Email) -> Self {
        Self(Uuid::new_v5(
            &tenant.0,
            format!("member:{email}").as_bytes(),
        ))
    }
}

impl MemberId {
    /// The id of the member a provider knows as `subject`: the same person at the same
    /// issuer is the same member, and another tenant's member is another id.
    pub fn for_identity(tenant: TenantId, issuer: &str, subject: &str) -> Self {
        Self(Uuid::new_v5(
            &tenant.0,
            format!("identity:{issuer}\n{subject}").as_bytes(),
        ))
    }
}

impl ApplicationId {
    /// The id of version `version` of application `name` in this tenant's catalog.
    pub fn for_version(tenant: TenantId, name: &str, version: &str) -> Self {
        Self(Uuid::new_v5(
            &tenant.0,
            format!("application:{name}@{version}").as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_scoped() {
        let slug: TenantSlug = "chu-lyon".parse().expect("valid slug");
        let other: TenantSlug = "inserm".parse().expect("valid slug");
        assert_eq!(TenantId::for_slug(&slug), TenantId::for_slug(&slug));
        assert_ne!(TenantId::for_slug(&slug), TenantId::for_slug(&other));
        let email: Email = "Ada@Example.org".parse().expect("valid email");
        let a = MemberId::for_email(TenantId::for_slug(&slug), &email);
        let b = MemberId::for_email(TenantId::for_slug(&other), &email);
        assert_ne!(a, b, "the same address in two tenants is two members");
    }
}

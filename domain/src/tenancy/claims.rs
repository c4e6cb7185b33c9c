//! What must be unique across the whole platform, not only within one tenant: an issuer
//! with an audience (a bearer token must point at one tenant), an issuer with a client id
//! (one entry of the sign-in chooser), and tenant names as people read them.
//!
//! Tenant events take and release claims. The event store records them in the transaction
//! that appends the events, under a unique key: of two registrations at once one wins, the
//! other is refused (CONFLICT) and writes no event — the way a slug taken twice is refused
//! by the tenant id derived from it.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use super::identity::IdentityProvider;
use super::{TenantError, TenantEvent};
use crate::ids::{ProviderId, TenantId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClaimKind {
    /// `issuer audience` (an issuer holds no whitespace).
    IssuerAudience,
    /// `issuer client-id`.
    IssuerClient,
    /// A tenant name's [`lookalike_key`](crate::names::lookalike_key).
    TenantName,
}

impl ClaimKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IssuerAudience => "ISSUER_AUDIENCE",
            Self::IssuerClient => "ISSUER_CLIENT",
            Self::TenantName => "TENANT_NAME",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::IssuerAudience, Self::IssuerClient, Self::TenantName]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The refusal of a command whose events would take a claim someone else holds.
    pub fn taken(self) -> TenantError {
        match self {
            Self::IssuerAudience => TenantError::IssuerAudienceTaken,
            Self::IssuerClient => TenantError::IssuerClientTaken,
            Self::TenantName => TenantError::NameTaken,
        }
    }
}

/// A unique value and who holds it (a provider, or a tenant for its name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Claim {
    pub kind: ClaimKind,
    pub key: String,
    pub owner: Uuid,
}

/// What one event does to the claims: first release everything `release` holds, then take
/// `take` (all of them, or the event is refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimChange {
    pub release: Option<Uuid>,
    pub take: Vec<Claim>,
}

/// The claims of a provider's settings.
pub fn provider_claims(id: ProviderId, provider: &IdentityProvider) -> Vec<Claim> {
    let owner = id.as_uuid();
    let mut claims = vec![Claim {
        kind: ClaimKind::IssuerAudience,
        key: format!("{} {}", provider.issuer, provider.audience),
        owner,
    }];
    if let Some(client) = &provider.client_id {
        claims.push(Claim {
            kind: ClaimKind::IssuerClient,
            key: format!("{} {client}", provider.issuer),
            owner,
        });
    }
    claims
}

/// What `event` of tenant `tenant` does to the claims.
pub fn change(tenant: TenantId, event: &TenantEvent) -> ClaimChange {
    let name = |name: &crate::names::DisplayName| Claim {
        kind: ClaimKind::TenantName,
        key: name.lookalike_key(),
        owner: tenant.as_uuid(),
    };
    match event {
        TenantEvent::TenantCreated { name: n, .. } => ClaimChange {
            release: None,
            take: vec![name(n)],
        },
        TenantEvent::TenantRenamed { name: n } => ClaimChange {
            release: Some(tenant.as_uuid()),
            take: vec![name(n)],
        },
        TenantEvent::IdentityProviderAdded {
            provider_id,
            provider,
        } => ClaimChange {
            release: None,
            take: provider_claims(*provider_id, provider),
        },
        TenantEvent::IdentityProviderUpdated {
            provider_id,
            provider,
        } => ClaimChange {
            release: Some(provider_id.as_uuid()),
            take: provider_claims(*provider_id, provider),
        },
        TenantEvent::IdentityProviderRemoved { provider_id }
        | TenantEvent::IdentityProviderDisabled { provider_id, .. } => ClaimChange {
            release: Some(provider_id.as_uuid()),
            take: vec![],
        },
        TenantEvent::TenantSuspended { .. }
        | TenantEvent::TenantReactivated
        | TenantEvent::ProvisioningSet { .. }
        | TenantEvent::StorageQuotaSet { .. }
        | TenantEvent::CoreBudgetSet { .. } => ClaimChange::default(),
    }
}

/// A provider that, per the log, uses a claim an older registration holds: it was
/// registered before claims existed, and is to be disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub tenant: TenantId,
    pub provider_id: ProviderId,
    pub kind: ClaimKind,
}

impl Collision {
    /// What its tenant's administrators read.
    pub fn reason(&self) -> String {
        let what = match self.kind {
            ClaimKind::IssuerClient => "issuer and client id",
            ClaimKind::IssuerAudience | ClaimKind::TenantName => "issuer and audience",
        };
        format!(
            "Turned off: an older registration on this platform uses the same {what}, so its \
             tokens and sign-ins could not tell the two apart. Save this provider with \
             settings of its own (they must be unique) to turn it on again."
        )
    }
}

/// The claims the log gives, and the providers to disable: the events in log order, each
/// taking its claims as the event store now would; a provider refused there is a
/// collision (unless a later event of the log frees it), a tenant name refused keeps its
/// name without a claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    pub claims: Vec<Claim>,
    pub collisions: Vec<Collision>,
}

pub fn replay<'a>(events: impl IntoIterator<Item = (TenantId, &'a TenantEvent)>) -> Replayed {
    let mut held: HashMap<(ClaimKind, String), Uuid> = HashMap::new();
    // provider → (when it collided, its collision)
    let mut blocked: BTreeMap<ProviderId, (usize, Collision)> = BTreeMap::new();
    for (at, (tenant, event)) in events.into_iter().enumerate() {
        let change = change(tenant, event);
        if let Some(owner) = change.release {
            held.retain(|_, holder| *holder != owner);
        }
        let provider = match event {
            TenantEvent::IdentityProviderAdded { provider_id, .. }
            | TenantEvent::IdentityProviderUpdated { provider_id, .. } => Some(*provider_id),
            TenantEvent::IdentityProviderRemoved { provider_id }
            | TenantEvent::IdentityProviderDisabled { provider_id, .. } => {
                blocked.remove(provider_id);
                None
            }
            _ => None,
        };
        let taken = change.take.iter().find(|c| {
            held.get(&(c.kind, c.key.clone()))
                .is_some_and(|holder| *holder != c.owner)
        });
        match (taken, provider) {
            (None, _) => {
                for c in change.take {
                    held.insert((c.kind, c.key), c.owner);
                }
                if let Some(id) = provider {
                    blocked.remove(&id);
                }
            }
            (Some(c), Some(provider_id)) => {
                let collision = Collision {
                    tenant,
                    provider_id,
                    kind: c.kind,
                };
                blocked.insert(provider_id, (at, collision));
            }
            // a look-alike tenant name of the past: the older tenant keeps the claim
            (Some(_), None) => {}
        }
    }
    let mut claims: Vec<Claim> = held
        .into_iter()
        .map(|((kind, key), owner)| Claim { kind, key, owner })
        .collect();
    claims.sort();
    let mut collisions: Vec<(usize, Collision)> = blocked.into_values().collect();
    collisions.sort_by_key(|(at, _)| *at);
    Replayed {
        claims,
        collisions: collisions.into_iter().map(|(_, c)| c).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::TenantSlug;

    fn tenant(slug: &str) -> TenantId {
        TenantId::for_slug(&slug.parse::<TenantSlug>().expect("slug"))
    }

    fn created(name: &str) -> TenantEvent {
        TenantEvent::TenantCreated {
            slug: "xx".parse().expect("slug"),
            name: name.parse().expect("name"),
        }
    }

    fn provider(audience: &str, client: Option<&str>) -> IdentityProvider {
        IdentityProvider {
            name: "CHU".parse().expect("name"),
            issuer: "https://sso.org/realms/a".parse().expect("issuer"),
            audience: audience.into(),
            client_id: client.map(str::to_owned),
            client_secret_fingerprint: None,
            claims: Default::default(),
        }
    }

    fn added(id: ProviderId, p: IdentityProvider) -> TenantEvent {
        TenantEvent::IdentityProviderAdded {
            provider_id: id,
            provider: p,
        }
    }

    #[test]
    fn the_older_registration_keeps_its_claims() {
        let (a, b) = (tenant("alpha"), tenant("beta"));
        let (first, second, third) = (
            ProviderId::random(),
            ProviderId::random(),
            ProviderId::random(),
        );
        let log = [
            (a, created("Alpha")),
            (b, created("Beta")),
            (a, added(first, provider("medgrid", Some("portal")))),
            (b, added(second, provider("medgrid", None))),
            (b, added(third, provider("other", Some("portal")))),
        ];
        let out = replay(log.iter().map(|(t, e)| (*t, e)));
        assert_eq!(
            out.collisions,
            vec![
                Collision {
                    tenant: b,
                    provider_id: second,
                    kind: ClaimKind::IssuerAudience
                },
                Collision {
                    tenant: b,
                    provider_id: third,
                    kind: ClaimKind::IssuerClient
                },
            ]
        );
        let owners: Vec<(ClaimKind, Uuid)> = out.claims.iter().map(|c| (c.kind, c.owner)).collect();
        assert!(owners.contains(&(ClaimKind::IssuerAudience, first.as_uuid())));
        assert!(owners.contains(&(ClaimKind::IssuerClient, first.as_uuid())));
        assert!(
            !owners
                .iter()
                .any(|(_, o)| *o == second.as_uuid() || *o == third.as_uuid())
        );
        assert_eq!(out.claims.len(), 4, "{:?}", out.claims);
    }

    #[test]
    fn a_collision_later_resolved_in_the_log_disables_nothing() {
        let (a, b) = (tenant("alpha"), tenant("beta"));
        let (first, second) = (ProviderId::random(), ProviderId::random());
        let log = [
            (a, added(first, provider("medgrid", None))),
            (b, added(second, provider("medgrid", None))),
            (
                b,
                TenantEvent::IdentityProviderUpdated {
                    provider_id: second,
                    provider: provider("beta", None),
                },
            ),
        ];
        let out = replay(log.iter().map(|(t, e)| (*t, e)));
        assert!(out.collisions.is_empty());
        assert_eq!(out.claims.len(), 2);
        // removed: its claim is free for the next one
        let log = [
            (a, added(first, provider("medgrid", None))),
            (
                a,
                TenantEvent::IdentityProviderRemoved { provider_id: first },
            ),
            (b, added(second, provider("medgrid", None))),
        ];
        let out = replay(log.iter().map(|(t, e)| (*t, e)));
        assert!(out.collisions.is_empty());
        assert_eq!(out.claims[0].owner, second.as_uuid());
    }

    #[test]
    fn look_alike_names_of_the_past_keep_their_names_without_a_claim() {
        let (a, b) = (tenant("alpha"), tenant("beta"));
        let log = [
            (a, created("Demo Hospital")),
            (b, created("demo  hospital")),
        ];
        let out = replay(log.iter().map(|(t, e)| (*t, e)));
        assert!(out.collisions.is_empty());
        assert_eq!(out.claims.len(), 1);
        assert_eq!(out.claims[0].owner, a.as_uuid());
        assert_eq!(out.claims[0].key, "demo hospital");
    }

    #[test]
    fn renames_and_updates_release_what_they_held() {
        let a = tenant("alpha");
        let change = change(
            a,
            &TenantEvent::TenantRenamed {
                name: "New".parse().expect("name"),
            },
        );
        assert_eq!(change.release, Some(a.as_uuid()));
        assert_eq!(change.take[0].key, "new");
        assert_eq!(
            ClaimKind::parse("ISSUER_CLIENT"),
            Some(ClaimKind::IssuerClient)
        );
    }
}

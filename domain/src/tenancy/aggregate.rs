use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::identity::{IdentityProvider, Provisioning};
use super::{TenantCommand, TenantError, TenantEvent};
use crate::ids::ProviderId;
use crate::names::{DisplayName, TenantSlug};

/// A tenant trusts at most this many identity providers.
pub const MAX_PROVIDERS: usize = 20;

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
    #[serde(default)]
    providers: BTreeMap<ProviderId, IdentityProvider>,
    /// Providers turned off, with the reason their administrators see.
    #[serde(default)]
    disabled: BTreeMap<ProviderId, String>,
    #[serde(default)]
    provisioning: Provisioning,
    #[serde(default)]
    storage_quota: Option<u64>,
    #[serde(default)]
    core_budget: Option<u64>,
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
            (TenantCommand::SetStorageQuota(bytes), Some(state)) => {
                Ok(if bytes == state.storage_quota {
                    vec![]
                } else {
                    vec![TenantEvent::StorageQuotaSet { bytes }]
                })
            }
            (TenantCommand::SetCoreBudget(seconds), Some(state)) => {
                Ok(if seconds == state.core_budget {
                    vec![]
                } else {
                    vec![TenantEvent::CoreBudgetSet {
                        core_seconds_per_month: seconds,
                    }]
                })
            }
            (command, Some(state)) => state.decide_identity(command),
        }
    }
}

impl TenantState {
    /// Identity providers and provisioning.
    fn decide_identity(&self, command: TenantCommand) -> Result<Vec<TenantEvent>, TenantError> {
        match command {
            TenantCommand::AddIdentityProvider {
                provider_id,
                provider,
            } => {
                if self.providers.len() >= MAX_PROVIDERS {
                    return Err(TenantError::TooManyProviders(MAX_PROVIDERS));
                }
                self.refuse_duplicate(provider_id, &provider)?;
                Ok(vec![TenantEvent::IdentityProviderAdded {
                    provider_id,
                    provider,
                }])
            }
            TenantCommand::UpdateIdentityProvider {
                provider_id,
                provider,
            } => match self.providers.get(&provider_id) {
                None => Err(TenantError::ProviderNotFound),
                // saving a disabled provider unchanged tries its claims again
                Some(current)
                    if *current == provider && !self.disabled.contains_key(&provider_id) =>
                {
                    Ok(vec![])
                }
                Some(_) => {
                    self.refuse_duplicate(provider_id, &provider)?;
                    Ok(vec![TenantEvent::IdentityProviderUpdated {
                        provider_id,
                        provider,
                    }])
                }
            },
            TenantCommand::RemoveIdentityProvider(provider_id) => {
                if !self.providers.contains_key(&provider_id) {
                    return Err(TenantError::ProviderNotFound);
                }
                Ok(vec![TenantEvent::IdentityProviderRemoved { provider_id }])
            }
            TenantCommand::SetProvisioning(provisioning) if provisioning == self.provisioning => {
                Ok(vec![])
            }
            TenantCommand::SetProvisioning(provisioning) => {
                Ok(vec![TenantEvent::ProvisioningSet { provisioning }])
            }
            // Decided in `Tenant::decide` before coming here.
            TenantCommand::Create { .. }
            | TenantCommand::Rename { .. }
            | TenantCommand::Suspend { .. }
            | TenantCommand::Reactivate
            | TenantCommand::SetStorageQuota(_)
            | TenantCommand::SetCoreBudget(_) => Ok(vec![]),
        }
    }

    /// One issuer and audience names one provider: a token must point at one tenant door.
    fn refuse_duplicate(
        &self,
        id: ProviderId,
        provider: &IdentityProvider,
    ) -> Result<(), TenantError> {
        let taken = self.providers.iter().any(|(other, p)| {
            *other != id && p.issuer == provider.issuer && p.audience == provider.audience
        });
        if taken {
            Err(TenantError::ProviderExists)
        } else {
            Ok(())
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
                    providers: BTreeMap::new(),
                    disabled: BTreeMap::new(),
                    provisioning: Provisioning::default(),
                    storage_quota: None,
                    core_budget: None,
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
            TenantEvent::StorageQuotaSet { bytes } => {
                if let Some(s) = self.state.as_mut() {
                    s.storage_quota = bytes;
                }
            }
            TenantEvent::CoreBudgetSet {
                core_seconds_per_month,
            } => {
                if let Some(s) = self.state.as_mut() {
                    s.core_budget = core_seconds_per_month;
                }
            }
            TenantEvent::TenantReactivated => {
                if let Some(s) = self.state.as_mut() {
                    s.status = TenantStatus::Active;
                }
            }
            TenantEvent::IdentityProviderAdded {
                provider_id,
                provider,
            }
            | TenantEvent::IdentityProviderUpdated {
                provider_id,
                provider,
            } => {
                if let Some(s) = self.state.as_mut() {
                    // written only once its claims were taken: it admits people again
                    s.disabled.remove(&provider_id);
                    s.providers.insert(provider_id, provider);
                }
            }
            TenantEvent::IdentityProviderRemoved { provider_id } => {
                if let Some(s) = self.state.as_mut() {
                    s.providers.remove(&provider_id);
                    s.disabled.remove(&provider_id);
                }
            }
            TenantEvent::IdentityProviderDisabled {
                provider_id,
                reason,
            } => {
                if let Some(s) = self.state.as_mut()
                    && s.providers.contains_key(&provider_id)
                {
                    s.disabled.insert(provider_id, reason);
                }
            }
            TenantEvent::ProvisioningSet { provisioning } => {
                if let Some(s) = self.state.as_mut() {
                    s.provisioning = provisioning;
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

    fn provider(issuer: &str, audience: &str) -> IdentityProvider {
        IdentityProvider {
            name: "CHU".parse().expect("name"),
            issuer: issuer.parse().expect("issuer"),
            audience: audience.into(),
            client_id: None,
            client_secret_fingerprint: None,
            claims: Default::default(),
        }
    }

    #[test]
    fn an_issuer_and_audience_are_trusted_once() {
        let id = ProviderId::random();
        let added = TenantEvent::IdentityProviderAdded {
            provider_id: id,
            provider: provider("https://sso.org/realms/a", "medgrid"),
        };
        Given::with(())
            .given(vec![created(), added.clone()])
            .when(TenantCommand::AddIdentityProvider {
                provider_id: ProviderId::random(),
                provider: provider("https://sso.org/realms/a", "medgrid"),
            })
            .then_expect_error(TenantError::ProviderExists);
        let other = ProviderId::random();
        Given::with(())
            .given(vec![created(), added])
            .when(TenantCommand::AddIdentityProvider {
                provider_id: other,
                provider: provider("https://sso.org/realms/a", "portal"),
            })
            .then_expect_events(vec![TenantEvent::IdentityProviderAdded {
                provider_id: other,
                provider: provider("https://sso.org/realms/a", "portal"),
            }]);
    }

    #[test]
    fn providers_update_and_go() {
        let id = ProviderId::random();
        let added = TenantEvent::IdentityProviderAdded {
            provider_id: id,
            provider: provider("https://sso.org/realms/a", "medgrid"),
        };
        Given::with(())
            .given(vec![created(), added.clone()])
            .when(TenantCommand::UpdateIdentityProvider {
                provider_id: id,
                provider: provider("https://sso.org/realms/a", "medgrid"),
            })
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![created(), added.clone()])
            .when(TenantCommand::RemoveIdentityProvider(id))
            .then_expect_events(vec![TenantEvent::IdentityProviderRemoved {
                provider_id: id,
            }]);
        Given::with(())
            .given(vec![created()])
            .when(TenantCommand::RemoveIdentityProvider(id))
            .then_expect_error(TenantError::ProviderNotFound);
        Given::with(())
            .given(vec![created()])
            .when(TenantCommand::SetProvisioning(Provisioning::InvitationOnly))
            .then_expect_events(vec![]);
    }

    #[test]
    fn saving_a_disabled_provider_unchanged_tries_again() {
        let id = ProviderId::random();
        let p = provider("https://sso.org/realms/a", "medgrid");
        let added = TenantEvent::IdentityProviderAdded {
            provider_id: id,
            provider: p.clone(),
        };
        let disabled = TenantEvent::IdentityProviderDisabled {
            provider_id: id,
            reason: "taken".into(),
        };
        Given::with(())
            .given(vec![created(), added.clone(), disabled])
            .when(TenantCommand::UpdateIdentityProvider {
                provider_id: id,
                provider: p.clone(),
            })
            .then_expect_events(vec![TenantEvent::IdentityProviderUpdated {
                provider_id: id,
                provider: p,
            }]);
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

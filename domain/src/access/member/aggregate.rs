use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{MemberCommand, MemberError, MemberEvent};
use crate::actor::Role;
use crate::ids::{TenantId, TokenId};

/// A member may hold at most this many unexpired, unrevoked tokens.
pub const MAX_ACTIVE_TOKENS: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MemberState {
    tenant_id: TenantId,
    roles: BTreeSet<Role>,
    disabled: bool,
    /// Unrevoked tokens and their expiry; revoked ones leave the state.
    tokens: BTreeMap<TokenId, Option<DateTime<Utc>>>,
}

/// A person in one tenant. Grows with every token issued, so it is snapshotted.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    state: Option<MemberState>,
}

impl Member {
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.state.as_ref().map(|s| s.tenant_id)
    }

    pub fn is_active(&self) -> bool {
        self.state.as_ref().is_some_and(|s| !s.disabled)
    }

    fn decide(&self, command: MemberCommand) -> Result<Vec<MemberEvent>, MemberError> {
        match (&self.state, command) {
            (
                None,
                MemberCommand::Create {
                    tenant_id,
                    email,
                    name,
                    roles,
                    password_hash,
                },
            ) => {
                let mut events = vec![MemberEvent::MemberCreated {
                    tenant_id,
                    email,
                    name,
                    roles,
                }];
                if let Some(password_hash) = password_hash {
                    events.push(MemberEvent::PasswordSet { password_hash });
                }
                Ok(events)
            }
            (None, _) => Err(MemberError::NotFound),
            (Some(state), command) => change(state, command),
        }
    }
}

fn change(state: &MemberState, command: MemberCommand) -> Result<Vec<MemberEvent>, MemberError> {
    Ok(match command {
        MemberCommand::Create { .. } => return Err(MemberError::AlreadyExists),
        MemberCommand::SetPassword { password_hash } => {
            vec![MemberEvent::PasswordSet { password_hash }]
        }
        MemberCommand::GrantRole(role) if state.roles.contains(&role) => vec![],
        MemberCommand::GrantRole(role) => vec![MemberEvent::RoleGranted { role }],
        MemberCommand::RevokeRole(role) if !state.roles.contains(&role) => vec![],
        MemberCommand::RevokeRole(role) => vec![MemberEvent::RoleRevoked { role }],
        MemberCommand::Disable if state.disabled => vec![],
        MemberCommand::Disable => vec![MemberEvent::MemberDisabled],
        MemberCommand::Enable if !state.disabled => vec![],
        MemberCommand::Enable => vec![MemberEvent::MemberEnabled],
        MemberCommand::IssueToken {
            token_id,
            name,
            secret_hash,
            expires_at,
            now,
        } => {
            if state.disabled {
                return Err(MemberError::Disabled);
            }
            if state.tokens.contains_key(&token_id) {
                return Err(MemberError::TokenExists);
            }
            if expires_at.is_some_and(|at| at <= now) {
                return Err(MemberError::ExpiryInPast);
            }
            let active = state
                .tokens
                .values()
                .filter(|exp| exp.is_none_or(|at| at > now))
                .count();
            if active >= MAX_ACTIVE_TOKENS {
                return Err(MemberError::TooManyTokens);
            }
            vec![MemberEvent::TokenIssued {
                token_id,
                name,
                secret_hash,
                expires_at,
            }]
        }
        MemberCommand::RevokeToken(token_id) => {
            if !state.tokens.contains_key(&token_id) {
                return Err(MemberError::TokenNotFound);
            }
            vec![MemberEvent::TokenRevoked { token_id }]
        }
    })
}

impl Aggregate for Member {
    const TYPE: &'static str = "Member";
    type Command = MemberCommand;
    type Event = MemberEvent;
    type Error = MemberError;
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
        if let MemberEvent::MemberCreated {
            tenant_id, roles, ..
        } = &event
        {
            self.state = Some(MemberState {
                tenant_id: *tenant_id,
                roles: roles.clone(),
                disabled: false,
                tokens: BTreeMap::new(),
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            MemberEvent::MemberCreated { .. } | MemberEvent::PasswordSet { .. } => {}
            MemberEvent::RoleGranted { role } => {
                state.roles.insert(role);
            }
            MemberEvent::RoleRevoked { role } => {
                state.roles.remove(&role);
            }
            MemberEvent::MemberDisabled => state.disabled = true,
            MemberEvent::MemberEnabled => state.disabled = false,
            MemberEvent::TokenIssued {
                token_id,
                expires_at,
                ..
            } => {
                state.tokens.insert(token_id, expires_at);
            }
            MemberEvent::TokenRevoked { token_id } => {
                state.tokens.remove(&token_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use cqrs_es::test::TestFramework;

    use super::*;

    type Given = TestFramework<Member>;

    fn tenant() -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(7))
    }

    fn created() -> MemberEvent {
        MemberEvent::MemberCreated {
            tenant_id: tenant(),
            email: "ada@example.org".parse().expect("email"),
            name: "Ada".parse().expect("name"),
            roles: BTreeSet::new(),
        }
    }

    fn issue(token_id: TokenId, expires_at: Option<DateTime<Utc>>) -> MemberCommand {
        MemberCommand::IssueToken {
            token_id,
            name: "cli".parse().expect("name"),
            secret_hash: "h".into(),
            expires_at,
            now: Utc::now(),
        }
    }

    #[test]
    fn create_with_password_sets_it() {
        Given::with(())
            .given_no_previous_events()
            .when(MemberCommand::Create {
                tenant_id: tenant(),
                email: "ada@example.org".parse().expect("email"),
                name: "Ada".parse().expect("name"),
                roles: BTreeSet::new(),
                password_hash: Some("argon".into()),
            })
            .then_expect_events(vec![
                created(),
                MemberEvent::PasswordSet {
                    password_hash: "argon".into(),
                },
            ]);
    }

    #[test]
    fn duplicate_create_conflicts() {
        Given::with(())
            .given(vec![created()])
            .when(MemberCommand::Create {
                tenant_id: tenant(),
                email: "ada@example.org".parse().expect("email"),
                name: "Ada".parse().expect("name"),
                roles: BTreeSet::new(),
                password_hash: None,
            })
            .then_expect_error(MemberError::AlreadyExists);
    }

    #[test]
    fn roles_are_idempotent() {
        Given::with(())
            .given(vec![
                created(),
                MemberEvent::RoleGranted {
                    role: Role::TenantAdmin,
                },
            ])
            .when(MemberCommand::GrantRole(Role::TenantAdmin))
            .then_expect_events(vec![]);
        Given::with(())
            .given(vec![created()])
            .when(MemberCommand::RevokeRole(Role::TenantAdmin))
            .then_expect_events(vec![]);
    }

    #[test]
    fn disabled_members_get_no_tokens() {
        Given::with(())
            .given(vec![created(), MemberEvent::MemberDisabled])
            .when(issue(TokenId::random(), None))
            .then_expect_error(MemberError::Disabled);
    }

    #[test]
    fn tokens_expire_in_the_future_and_revoke_once() {
        Given::with(())
            .given(vec![created()])
            .when(issue(
                TokenId::random(),
                Some(Utc::now() - Duration::hours(1)),
            ))
            .then_expect_error(MemberError::ExpiryInPast);
        let id = TokenId::random();
        let issued = MemberEvent::TokenIssued {
            token_id: id,
            name: "cli".parse().expect("name"),
            secret_hash: "h".into(),
            expires_at: None,
        };
        Given::with(())
            .given(vec![created(), issued.clone()])
            .when(MemberCommand::RevokeToken(id))
            .then_expect_events(vec![MemberEvent::TokenRevoked { token_id: id }]);
        Given::with(())
            .given(vec![
                created(),
                issued,
                MemberEvent::TokenRevoked { token_id: id },
            ])
            .when(MemberCommand::RevokeToken(id))
            .then_expect_error(MemberError::TokenNotFound);
    }

    #[test]
    fn active_tokens_are_capped_but_expired_ones_do_not_count() {
        let mut history = vec![created()];
        for _ in 0..MAX_ACTIVE_TOKENS {
            history.push(MemberEvent::TokenIssued {
                token_id: TokenId::random(),
                name: "t".parse().expect("name"),
                secret_hash: "h".into(),
                expires_at: Some(Utc::now() + Duration::hours(1)),
            });
        }
        Given::with(())
            .given(history.clone())
            .when(issue(TokenId::random(), None))
            .then_expect_error(MemberError::TooManyTokens);
        let later = MemberCommand::IssueToken {
            token_id: TokenId::random(),
            name: "t".parse().expect("name"),
            secret_hash: "h".into(),
            expires_at: None,
            now: Utc::now() + Duration::hours(2),
        };
        let result = Given::with(()).given(history).when(later).inspect_result();
        assert!(result.is_ok(), "expired tokens must not count: {result:?}");
    }
}

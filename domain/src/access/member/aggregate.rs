use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

use super::{MemberCommand, MemberError, MemberEvent};
use crate::actor::Role;
use crate::ids::{TenantId, TokenId};
use crate::names::{DisplayName, Email};
use crate::tenancy::MappedIdentity;

/// A member may hold at most this many unexpired, unrevoked tokens.
pub const MAX_ACTIVE_TOKENS: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MemberState {
    tenant_id: TenantId,
    roles: BTreeSet<Role>,
    disabled: bool,
    /// Unrevoked tokens and their expiry; revoked ones leave the state.
    tokens: BTreeMap<TokenId, Option<DateTime<Utc>>>,
    /// Invited and not yet signed in.
    #[serde(default)]
    invited: bool,
    /// (issuer, subject) once linked to a provider's identity.
    #[serde(default)]
    identity: Option<(String, String)>,
    /// The provider's claims at the latest sign-in that changed them.
    #[serde(default)]
    claims: Option<Claims>,
}

/// What a provider says of a member, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Claims {
    email: Email,
    name: DisplayName,
    roles: BTreeSet<Role>,
    groups: BTreeSet<String>,
}

impl Claims {
    fn of(identity: &MappedIdentity) -> Self {
        Self {
            email: identity.email.clone(),
            name: identity.name.clone(),
            roles: identity.roles.clone(),
            groups: identity.groups.clone(),
        }
    }

    fn event(self) -> MemberEvent {
        MemberEvent::IdentityClaimsUpdated {
            email: self.email,
            name: self.name,
            roles: self.roles,
            groups: self.groups,
        }
    }
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
            (
                None,
                MemberCommand::Invite {
                    tenant_id,
                    email,
                    name,
                    roles,
                },
            ) => Ok(vec![MemberEvent::MemberInvited {
                tenant_id,
                email,
                name,
                roles,
            }]),
            (
                None,
                MemberCommand::Join {
                    tenant_id,
                    issuer,
                    identity,
                },
            ) => Ok(vec![
                MemberEvent::MemberCreated {
                    tenant_id,
                    email: identity.email.clone(),
                    name: identity.name.clone(),
                    roles: BTreeSet::new(),
                },
                MemberEvent::IdentityLinked {
                    issuer,
                    subject: identity.subject.clone(),
                },
                Claims::of(&identity).event(),
            ]),
            (None, MemberCommand::AcceptInvitation { .. }) => Err(MemberError::NotInvited),
            (None, _) => Err(MemberError::NotFound),
            (Some(state), command) => change(state, command),
        }
    }
}

impl MemberState {
    fn is_identity(&self, issuer: &str, subject: &str) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|(i, s)| i == issuer && s == subject)
    }

    /// Tokens (sessions included) that still open the API at `now`.
    fn open_tokens(&self, now: DateTime<Utc>) -> impl Iterator<Item = TokenId> + '_ {
        self.tokens
            .iter()
            .filter(move |(_, expires)| expires.is_none_or(|at| at > now))
            .map(|(id, _)| *id)
    }

    /// An `IdentityClaimsUpdated` when the provider now says something else.
    fn claims_changes(&self, identity: &MappedIdentity) -> Vec<MemberEvent> {
        let claims = Claims::of(identity);
        if self.claims.as_ref() == Some(&claims) {
            vec![]
        } else {
            vec![claims.event()]
        }
    }
}

fn change(state: &MemberState, command: MemberCommand) -> Result<Vec<MemberEvent>, MemberError> {
    Ok(match command {
        MemberCommand::Create { .. } | MemberCommand::Invite { .. } => {
            return Err(MemberError::AlreadyExists);
        }
        // A concurrent first sign-in already made this member: nothing more to record.
        MemberCommand::Join {
            issuer, identity, ..
        } if state.is_identity(&issuer, &identity.subject) => state.claims_changes(&identity),
        MemberCommand::Join { .. } => return Err(MemberError::AlreadyExists),
        MemberCommand::AcceptInvitation { issuer, identity } => {
            if state.is_identity(&issuer, &identity.subject) {
                state.claims_changes(&identity)
            } else if state.invited && state.identity.is_none() {
                let mut events = vec![MemberEvent::IdentityLinked {
                    issuer,
                    subject: identity.subject.clone(),
                }];
                events.extend(state.claims_changes(&identity));
                events
            } else {
                return Err(MemberError::NotInvited);
            }
        }
        MemberCommand::UpdateClaims(identity) => state.claims_changes(&identity),
        MemberCommand::SetPassword { password_hash, now } => {
            let mut events = vec![MemberEvent::PasswordSet { password_hash }];
            events.extend(
                state
                    .open_tokens(now)
                    .map(|token_id| MemberEvent::TokenRevoked { token_id }),
            );
            events
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
            let active = state.open_tokens(now).count();
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
        }
        | MemberEvent::MemberInvited {
            tenant_id, roles, ..
        } = &event
        {
            self.state = Some(MemberState {
                tenant_id: *tenant_id,
                roles: roles.clone(),
                disabled: false,
                tokens: BTreeMap::new(),
                invited: matches!(event, MemberEvent::MemberInvited { .. }),
                identity: None,
                claims: None,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            MemberEvent::MemberCreated { .. }
            | MemberEvent::MemberInvited { .. }
            | MemberEvent::PasswordSet { .. } => {}
            MemberEvent::IdentityLinked { issuer, subject } => {
                state.invited = false;
                state.identity = Some((issuer, subject));
            }
            MemberEvent::IdentityClaimsUpdated {
                email,
                name,
                roles,
                groups,
            } => {
                state.claims = Some(Claims {
                    email,
                    name,
                    roles,
                    groups,
                });
            }
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

    fn identity(subject: &str) -> MappedIdentity {
        MappedIdentity {
            subject: subject.into(),
            email: "ada@example.org".parse().expect("email"),
            email_verified: true,
            name: "Ada".parse().expect("name"),
            username: None,
            roles: BTreeSet::new(),
            groups: BTreeSet::from(["/mri".to_owned()]),
        }
    }

    fn claims_event(identity: &MappedIdentity) -> MemberEvent {
        Claims::of(identity).event()
    }

    #[test]
    fn first_sign_in_joins_once() {
        let join = MemberCommand::Join {
            tenant_id: tenant(),
            issuer: "https://sso".into(),
            identity: identity("s1"),
        };
        let linked = MemberEvent::IdentityLinked {
            issuer: "https://sso".into(),
            subject: "s1".into(),
        };
        Given::with(())
            .given_no_previous_events()
            .when(join.clone())
            .then_expect_events(vec![
                created(),
                linked.clone(),
                claims_event(&identity("s1")),
            ]);
        // a concurrent first request lands on the same member: nothing new
        Given::with(())
            .given(vec![created(), linked, claims_event(&identity("s1"))])
            .when(join)
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_invitation_is_accepted_by_one_identity() {
        let invited = MemberEvent::MemberInvited {
            tenant_id: tenant(),
            email: "ada@example.org".parse().expect("email"),
            name: "Ada".parse().expect("name"),
            roles: BTreeSet::new(),
        };
        let accept = |subject: &str| MemberCommand::AcceptInvitation {
            issuer: "https://sso".into(),
            identity: identity(subject),
        };
        let linked = MemberEvent::IdentityLinked {
            issuer: "https://sso".into(),
            subject: "s1".into(),
        };
        Given::with(())
            .given(vec![invited.clone()])
            .when(accept("s1"))
            .then_expect_events(vec![linked.clone(), claims_event(&identity("s1"))]);
        Given::with(())
            .given(vec![invited.clone(), linked])
            .when(accept("s2"))
            .then_expect_error(MemberError::NotInvited);
        Given::with(())
            .given(vec![created()])
            .when(accept("s1"))
            .then_expect_error(MemberError::NotInvited);
        Given::with(())
            .given_no_previous_events()
            .when(accept("s1"))
            .then_expect_error(MemberError::NotInvited);
    }

    #[test]
    fn claims_are_recorded_when_they_change() {
        let history = vec![
            created(),
            MemberEvent::IdentityLinked {
                issuer: "https://sso".into(),
                subject: "s1".into(),
            },
            claims_event(&identity("s1")),
        ];
        Given::with(())
            .given(history.clone())
            .when(MemberCommand::UpdateClaims(identity("s1")))
            .then_expect_events(vec![]);
        let mut admin = identity("s1");
        admin.roles.insert(Role::TenantAdmin);
        Given::with(())
            .given(history)
            .when(MemberCommand::UpdateClaims(admin.clone()))
            .then_expect_events(vec![claims_event(&admin)]);
    }

    #[test]
    fn a_new_password_revokes_every_open_token() {
        let token = |id: TokenId, expires_at: Option<DateTime<Utc>>| MemberEvent::TokenIssued {
            token_id: id,
            name: "t".parse().expect("name"),
            secret_hash: "h".into(),
            expires_at,
        };
        let (script, session, expired, revoked) = (
            TokenId::random(),
            TokenId::random(),
            TokenId::random(),
            TokenId::random(),
        );
        let history = vec![
            created(),
            token(script, None),
            token(session, Some(Utc::now() + Duration::hours(12))),
            token(expired, Some(Utc::now() - Duration::hours(1))),
            token(revoked, None),
            MemberEvent::TokenRevoked { token_id: revoked },
        ];
        let mut open = [script, session];
        open.sort();
        let mut expected = vec![MemberEvent::PasswordSet {
            password_hash: "argon".into(),
        }];
        expected.extend(open.map(|token_id| MemberEvent::TokenRevoked { token_id }));
        Given::with(())
            .given(history)
            .when(MemberCommand::SetPassword {
                password_hash: "argon".into(),
                now: Utc::now(),
            })
            .then_expect_events(expected);
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

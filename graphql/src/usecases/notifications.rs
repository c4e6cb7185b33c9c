//! Notification preferences: each member sets their own (never another's), tenant
//! administrators set their tenant's defaults; what applies is the member's choice, else
//! the tenant's, else the built-in one. One-click unsubscribe links act without signing in:
//! their signed token names the member and the kind of notification.

use std::collections::BTreeMap;

use medgrid_domain::Actor;
use medgrid_domain::ids::{MemberId, PreferencesId};
use medgrid_domain::metadata::{Causer, EventMetadata};
use medgrid_domain::notify::{
    Delivery, Effective, NotificationKind, NotificationPreferencesCommand, PreferenceChange,
    PreferencesOwner, TimeZoneName, Weekday, effective,
};
use medgrid_projections::{Reader, members, notifications};

use super::Scope;
use crate::{ApiError, Services};

/// A change as a client asks for it: event types by name (checked here).
#[derive(Debug, Clone, Default)]
pub struct ChangeRequest {
    /// (event type, delivery); `None`: back to the inherited choice.
    pub choices: Vec<(String, Option<Delivery>)>,
    pub time_zone: Option<String>,
    pub digest_hour: Option<i32>,
    pub digest_weekday: Option<Weekday>,
}

fn member<'s>(scope: &'s Scope<'_>) -> Result<&'s Actor, ApiError> {
    scope
        .caller
        .actor()
        .ok_or_else(|| ApiError::invalid("notification preferences belong to members"))
}

/// Checks a request and makes it a change for `owner`: every event type known and named
/// once, the time zone real. (The hour is checked by the aggregate.)
fn change(owner: PreferencesOwner, request: ChangeRequest) -> Result<PreferenceChange, ApiError> {
    let mut choices = BTreeMap::new();
    for (name, delivery) in request.choices {
        let kind: NotificationKind = name.parse()?;
        if choices.insert(kind, delivery).is_some() {
            return Err(ApiError::invalid(format!(
                "eventType: {kind} is named more than once"
            )));
        }
    }
    let time_zone = request
        .time_zone
        .map(|z| z.parse::<TimeZoneName>())
        .transpose()?;
    Ok(PreferenceChange {
        owner,
        choices,
        time_zone,
        digest_hour: request.digest_hour.map(i64::from),
        digest_weekday: request.digest_weekday,
    })
}

/// What applies to `actor`, with where each setting comes from.
async fn effective_for(db: &Reader, actor: &Actor) -> Result<Effective, ApiError> {
    let own = notifications::of_member(db, actor.member_id).await?;
    let tenant = notifications::of_tenant(db, actor.tenant_id).await?;
    Ok(effective(
        own.map(|r| r.preferences()).as_ref(),
        tenant.map(|r| r.preferences()).as_ref(),
    ))
}

/// The caller's effective preferences.
pub async fn mine(scope: &Scope<'_>) -> Result<Effective, ApiError> {
    effective_for(&scope.reader(), member(scope)?).await
}

/// The caller's tenant's defaults (over the built-in ones).
pub async fn tenant_defaults(scope: &Scope<'_>) -> Result<Effective, ApiError> {
    let actor = member(scope)?;
    let tenant = notifications::of_tenant(&scope.reader(), actor.tenant_id).await?;
    Ok(effective(None, tenant.map(|r| r.preferences()).as_ref()))
}

/// Changes the caller's own preferences. `member_id`, if given, must be the caller:
/// nobody edits another member's preferences, administrators included.
pub async fn set_mine(
    scope: &Scope<'_>,
    member_id: Option<&str>,
    request: ChangeRequest,
) -> Result<Effective, ApiError> {
    let actor = member(scope)?;
    if let Some(id) = member_id {
        let id: Option<MemberId> = id.parse().ok();
        if id != Some(actor.member_id) {
            return Err(ApiError::new(
                medgrid_domain::Code::Forbidden,
                "members set their own notification preferences only",
            ));
        }
    }
    let owner = PreferencesOwner::Member {
        tenant_id: actor.tenant_id,
        member_id: actor.member_id,
    };
    let command = NotificationPreferencesCommand::Change(change(owner, request)?);
    scope
        .svc
        .bus
        .notification_preferences(
            PreferencesId::of_member(actor.member_id),
            command,
            &scope.metadata(actor.tenant_id),
        )
        .await?;
    mine(scope).await
}

/// Changes the caller's tenant's defaults: its administrators only.
pub async fn set_tenant_defaults(
    scope: &Scope<'_>,
    request: ChangeRequest,
) -> Result<Effective, ApiError> {
    let tenant = member(scope)?.tenant_id;
    scope.caller.check(|a| a.require_tenant_admin(tenant))?;
    let owner = PreferencesOwner::Tenant { tenant_id: tenant };
    let command = NotificationPreferencesCommand::Change(change(owner, request)?);
    scope
        .svc
        .bus
        .notification_preferences(
            PreferencesId::of_tenant(tenant),
            command,
            &scope.metadata(tenant),
        )
        .await?;
    tenant_defaults(scope).await
}

/// Acts on a one-click unsubscribe token: the kind it names is set to NONE for the member
/// it names (recorded as that member's own change). Returns the kind.
pub async fn unsubscribe(
    svc: &Services,
    token: &str,
    request_id: Option<String>,
) -> Result<NotificationKind, ApiError> {
    let invalid = || ApiError::not_found("unsubscribe link");
    let (tenant, member, kind) = svc.unsubscribe.verify(token).await.ok_or_else(invalid)?;
    // the token names its member: read it as the service
    members::by_id(&Reader::system(&svc.pool), member)
        .await?
        .filter(|m| m.tenant_id == tenant.as_uuid())
        .ok_or_else(invalid)?;
    let owner = PreferencesOwner::Member {
        tenant_id: tenant,
        member_id: member,
    };
    let command = NotificationPreferencesCommand::Change(PreferenceChange {
        owner,
        choices: BTreeMap::from([(kind, Some(Delivery::None))]),
        time_zone: None,
        digest_hour: None,
        digest_weekday: None,
    });
    let meta = EventMetadata::new(tenant, Causer::Member(member), request_id);
    svc.bus
        .notification_preferences(PreferencesId::of_member(member), command, &meta)
        .await?;
    Ok(kind)
}

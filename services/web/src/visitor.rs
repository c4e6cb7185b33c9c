//! Who is looking at a portal page: the member behind the session cookie. Pages take a
//! [`Visitor`]; without a valid session the browser is sent to sign in and brought back
//! to the page it asked for afterwards.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use medgrid_domain::Actor;
use medgrid_graphql::Services;
use medgrid_graphql::usecases::{Scope, auth};
use medgrid_projections::{Reader, Sees, members, tenants};

use crate::login::{see_other, urlencode};
use crate::return_to::ReturnTo;
use crate::{Portal, cookies, csrf};

pub struct Visitor {
    pub actor: Actor,
    pub name: String,
    pub email: String,
    pub tenant: String,
    /// The token the page's forms repeat.
    pub csrf: String,
    /// The cookie that sets `csrf`, when the browser had none.
    pub set_csrf: Option<String>,
    pub svc: Services,
}

impl Visitor {
    /// The use cases as this member.
    pub fn scope(&self) -> Scope<'_> {
        Scope::member(&self.svc, self.actor.clone())
    }

    /// Whether the administration pages are offered.
    pub fn is_admin(&self) -> bool {
        self.actor.can_administer(self.actor.tenant_id)
    }

    /// Whether a form's `csrf` field is this page's token.
    pub fn form_is_fresh(&self, field: &str) -> bool {
        cookies::same(&self.csrf, field) && self.set_csrf.is_none()
    }

    /// Whether a posted form carries this page's token in its `csrf` field.
    pub fn posted_is_fresh(&self, posted: &crate::form::Posted) -> bool {
        self.form_is_fresh(posted.get("csrf").map_or("", String::as_str))
    }
}

/// Where to come back after signing in: the page asked for, or for a form sent with an
/// expired session the page the form was on.
fn come_back_to(parts: &Parts) -> ReturnTo {
    if parts.method == Method::GET {
        let asked = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        return ReturnTo::or_home(Some(asked));
    }
    let referer = parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]));
    ReturnTo::or_home(referer)
}

impl Visitor {
    /// The member whose session `headers` carry, if it is valid.
    pub async fn of(svc: Services, portal: &Portal, headers: &HeaderMap) -> Option<Self> {
        let session = cookies::get(headers, cookies::SESSION, portal.secure())?;
        let actor = auth::resolve_bearer(&svc, &session).await.ok()?;
        let reads = Reader::new(&svc.pool, Sees::Tenant(actor.tenant_id));
        let member = members::by_id(&reads, actor.member_id).await.ok()??;
        let tenant = tenants::by_id(&reads, actor.tenant_id).await.ok()??;
        let (csrf, set_csrf) = csrf::token(headers, portal);
        Some(Self {
            actor,
            name: member.name,
            email: member.email,
            tenant: tenant.name,
            csrf,
            set_csrf,
            svc,
        })
    }
}

impl<S> FromRequestParts<S> for Visitor
where
    Services: FromRef<S>,
    Arc<Portal>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let portal = Arc::<Portal>::from_ref(state);
        match Self::of(Services::from_ref(state), &portal, &parts.headers).await {
            Some(visitor) => Ok(visitor),
            None => {
                let to = format!("/login?next={}", urlencode(come_back_to(parts).as_str()));
                // a dead cookie goes, so the sign-in page does not think someone is here
                Err(see_other(
                    &to,
                    &[cookies::clear(cookies::SESSION, portal.secure())],
                ))
            }
        }
    }
}

//! The OpenID Connect providers the tenant trusts: the list, a form to add one, each
//! one's edit form and its removal, and how people from them become members
//! (provisioning). A client secret is written, never shown back: the pages only say
//! whether one is set.

use askama::Template;
use axum::Form;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use medgrid_domain::Code;
use medgrid_domain::ids::TenantId;
use medgrid_domain::tenancy::Provisioning;
use medgrid_graphql::ApiError;
use medgrid_graphql::usecases::identity::{self, ProviderInput};
use medgrid_graphql::usecases::tenancy;
use medgrid_projections::tenants::ProviderRow;
use uuid::Uuid;

use super::{Entered, Input};
use crate::form::Posted;
use crate::login::see_other;
use crate::view;
use crate::visitor::Visitor;

/// The fields of a provider's form, as the use case names them.
const FIELDS: [&str; 5] = ["name", "issuer", "audience", "clientId", "clientSecret"];

/// A provider as the pages show it: whether a secret is set, not which.
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub audience: String,
    pub client_id: Option<String>,
    pub has_secret: bool,
    /// Why it admits nobody, for its administrators to fix.
    pub disabled_reason: Option<String>,
}

impl From<&ProviderRow> for ProviderView {
    fn from(p: &ProviderRow) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            issuer: p.issuer.clone(),
            audience: p.audience.clone(),
            client_id: p.client_id.clone(),
            has_secret: p.client_secret_fingerprint.is_some(),
            disabled_reason: p.disabled_reason.clone(),
        }
    }
}

/// The inputs of a provider's form (`form` prefixes their ids); the secret is never
/// filled in, whatever was typed.
fn inputs(e: &Entered, form: &str, secret_help: &'static str) -> Vec<Input> {
    let f = |name, label| e.input(form, name, label);
    let mut secret = f("clientSecret", "Client secret")
        .kind("password")
        .help(secret_help);
    secret.value.clear();
    vec![
        f("name", "Name")
            .required()
            .help("Shown on the sign-in page, e.g. CHU Lyon."),
        f("issuer", "Issuer")
            .kind("url")
            .required()
            .help("Exactly the iss of its tokens, e.g. https://sso.example.org/realms/radiology."),
        f("audience", "Audience")
            .required()
            .help("The aud its tokens must carry for this institution."),
        f("clientId", "Client id").help("The client for signing in with a browser."),
        secret,
    ]
}

#[derive(Template)]
#[template(path = "web/admin_providers.html")]
struct ListPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    providers: Vec<ProviderView>,
    add: Vec<Input>,
    error: Option<String>,
    just_in_time: bool,
    provisioning_error: Option<String>,
}

/// What a refused form brings back to the list.
#[derive(Default)]
struct Back {
    add: Entered,
    provisioning_error: Option<String>,
}

async fn list_page(v: &Visitor, status: StatusCode, back: Back) -> Response {
    let scope = v.scope();
    let tenant = v.actor.tenant_id;
    let found = async {
        let providers = identity::providers(&scope, tenant).await?;
        let row = tenancy::visible(&scope, tenant).await?;
        Ok::<_, ApiError>((providers, row.provisioning))
    }
    .await;
    let (providers, provisioning) = match found {
        Ok(found) => found,
        Err(e) => return view::failure(v, &e),
    };
    let page = ListPage {
        v,
        section: "admin",
        providers: providers.iter().map(ProviderView::from).collect(),
        add: inputs(
            &back.add,
            "add",
            "For a confidential client; a public client (PKCE alone) needs none. It is never shown again.",
        ),
        error: back.add.error,
        just_in_time: provisioning == Provisioning::JustInTime.as_str(),
        provisioning_error: back.provisioning_error,
    };
    view::page(v, status, &page)
}

/// GET /admin/providers
pub async fn list(v: Visitor) -> Response {
    list_page(&v, StatusCode::OK, Back::default()).await
}

/// The provider a form describes; `keep` is the provider being edited, whose claim
/// mapping (not on the form) stays as it is.
fn provider_input(posted: &Posted, keep: Option<&ProviderRow>) -> ProviderInput {
    let get = |k: &str| posted.get(k).cloned().unwrap_or_default();
    let client_id = get("clientId").trim().to_owned();
    let secret = get("clientSecret");
    let client_secret = if posted.contains_key("removeSecret") {
        Some(String::new())
    } else {
        // empty leaves the secret as it is (none, for a new provider)
        (!secret.is_empty()).then_some(secret)
    };
    ProviderInput {
        name: get("name"),
        issuer: get("issuer"),
        audience: get("audience"),
        client_id: (!client_id.is_empty()).then_some(client_id),
        client_secret,
        claims: keep.map(|p| p.claims.0.clone()),
    }
}

/// Refusals of a provider's form: a conflict is about the field it names (the client id
/// for an issuer and client id taken), else about the issuer.
fn about_the_form(e: ApiError) -> ApiError {
    if e.code == Code::Conflict && e.field.is_none() {
        e.with_field("issuer")
    } else {
        e
    }
}

/// POST /admin/providers: trusts a new provider.
pub async fn add(v: Visitor, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let input = provider_input(&posted, None);
    match identity::add_provider(&v.scope(), v.actor.tenant_id, input).await {
        Ok(_) => see_other("/admin/providers", &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let e = about_the_form(e);
            let back = Back {
                add: Entered::refused(&posted, &e, &FIELDS),
                provisioning_error: None,
            };
            list_page(&v, view::form_status(&e), back).await
        }
    }
}

/// The provider `id` of the visitor's tenant; another tenant's is not found.
async fn provider(v: &Visitor, id: &str) -> Result<ProviderRow, ApiError> {
    identity::providers(&v.scope(), v.actor.tenant_id)
        .await?
        .into_iter()
        .find(|p| p.id.to_string() == id)
        .ok_or_else(|| ApiError::not_found("identity provider"))
}

#[derive(Template)]
#[template(path = "web/admin_provider.html")]
struct EditPage<'a> {
    v: &'a Visitor,
    section: &'a str,
    p: ProviderView,
    inputs: Vec<Input>,
    error: Option<String>,
}

async fn edit_page(v: &Visitor, id: &str, status: StatusCode, e: Option<Entered>) -> Response {
    let row = match provider(v, id).await {
        Ok(row) => row,
        Err(e) => return view::failure(v, &e),
    };
    let e = e.unwrap_or_else(|| Entered {
        values: [
            ("name", row.name.clone()),
            ("issuer", row.issuer.clone()),
            ("audience", row.audience.clone()),
            ("clientId", row.client_id.clone().unwrap_or_default()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        ..Entered::default()
    });
    let p = ProviderView::from(&row);
    let help = if p.has_secret {
        "A secret is set: leave this empty to keep it."
    } else {
        "No secret is set: a public client (PKCE alone) needs none."
    };
    let page = EditPage {
        v,
        section: "admin",
        inputs: inputs(&e, "edit", help),
        error: e.error,
        p,
    };
    view::page(v, status, &page)
}

/// GET /admin/providers/{id}: the provider's edit form.
pub async fn edit(v: Visitor, Path(id): Path<String>) -> Response {
    edit_page(&v, &id, StatusCode::OK, None).await
}

/// POST /admin/providers/{id}: saves the edit form.
pub async fn update(v: Visitor, Path(id): Path<String>, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let done = match provider(&v, &id).await {
        Ok(row) => {
            identity::update_provider(&v.scope(), &id, provider_input(&posted, Some(&row))).await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => see_other("/admin/providers", &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let e = about_the_form(e);
            let entered = Entered::refused(&posted, &e, &FIELDS);
            edit_page(&v, &id, view::form_status(&e), Some(entered)).await
        }
    }
}

/// POST /admin/providers/{id}/remove: stops trusting the provider.
pub async fn remove(v: Visitor, Path(id): Path<String>, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    match identity::remove_provider(&v.scope(), &id).await {
        Ok(_) => see_other("/admin/providers", &[]),
        Err(e) => view::failure(&v, &e),
    }
}

/// POST /admin/providers/provisioning: how people from the providers become members.
pub async fn provisioning(v: Visitor, Form(posted): Form<Posted>) -> Response {
    if !v.posted_is_fresh(&posted) {
        return view::stale_form(&v);
    }
    let mode = match posted.get("provisioning").map(String::as_str) {
        Some("JUST_IN_TIME") => Ok(Provisioning::JustInTime),
        Some("INVITATION_ONLY") => Ok(Provisioning::InvitationOnly),
        _ => Err(ApiError::invalid(
            "choose who may join: anyone the providers vouch for, or people invited",
        )),
    };
    let tenant: TenantId = v.actor.tenant_id;
    let done = match mode {
        Ok(mode) => identity::set_provisioning(&v.scope(), tenant, mode).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => see_other("/admin/providers#provisioning", &[]),
        Err(e) if view::out_of_reach(&e) => view::failure(&v, &e),
        Err(e) => {
            let back = Back {
                add: Entered::default(),
                provisioning_error: Some(e.message.clone()),
            };
            list_page(&v, view::form_status(&e), back).await
        }
    }
}

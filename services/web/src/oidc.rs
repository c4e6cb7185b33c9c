//! Browser sign-in with an institution's provider: authorization code + PKCE, state bound
//! to this browser by a cookie and usable once, nonce checked in the ID token.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use medgrid_domain::ids::{MemberId, ProviderId, TenantId};
use medgrid_graphql::Services;
use medgrid_graphql::usecases::{auth, federation};
use medgrid_infra::outbound::{Guard, SendError};
use medgrid_projections::Reader;
use medgrid_projections::tenants::{self, ProviderRow};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, DiscoveryError,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
};
use serde::Deserialize;
use serde_json::Value;

use crate::login::{NextQuery, see_other, signed_in};
use crate::return_to::ReturnTo;
use crate::{Portal, cookies, pages};

/// How long a sign-in may take between leaving for the provider and coming back.
const ATTEMPT_MINUTES: i32 = 10;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A refusal shown to a person: a short page with the reason and a way back.
fn refusal(status: StatusCode, message: &str) -> Response {
    let body = format!(
        r#"<h1>Sign-in did not complete</h1>
<p role="alert" id="error">{}</p>
<p><a href="/login">Back to sign-in</a></p>"#,
        pages::escape(message)
    );
    (status, Html(pages::layout("Sign-in", &body))).into_response()
}

/// How long one request to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider (a discovery document, keys, tokens).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why the provider could not be used: an address the guard refuses (a setting for the
/// institution's admin to correct; nothing was sent there), or anything else.
enum Trouble {
    Refused(String),
    Failed(String),
}

impl Trouble {
    fn of_request(e: SendError) -> Self {
        match e {
            SendError::Refused(r) => Self::Refused(r.to_string()),
            e @ SendError::Failed(_) => Self::Failed(e.to_string()),
        }
    }

    fn detail(&self) -> &str {
        match self {
            Self::Refused(d) | Self::Failed(d) => d,
        }
    }
}

/// The OpenID Connect client's HTTP client: each request (discovery, keys, code exchange)
/// sent through the guard, to the checked addresses only, no redirect followed, no proxy.
struct Guarded(Guard);

impl<'c> AsyncHttpClient<'c> for Guarded {
    type Error = SendError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, SendError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

async fn send(guard: &Guard, request: HttpRequest) -> Result<HttpResponse, SendError> {
    let failed = |e: &dyn std::fmt::Display| SendError::Failed(e.to_string());
    let request = openidconnect::reqwest::Request::try_from(request).map_err(|e| failed(&e))?;
    let mut response = guard.send(request, PROVIDER_TIMEOUT).await?;
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(&e.without_url()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(failed(&format!(
                "an answer larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
    }
    answer.body(body).map_err(|e| failed(&e))
}

/// The provider's client, from its discovery document, with its secret if it has one.
async fn client(
    svc: &Services,
    portal: &Portal,
    row: &ProviderRow,
    client_id: &str,
) -> Result<Client, Trouble> {
    let failed = |e: &dyn std::fmt::Display| Trouble::Failed(e.to_string());
    let secret = match row.client_secret_fingerprint {
        None => None,
        Some(_) => Some(
            svc.sealed
                .get(row.id)
                .await
                .map_err(|e| failed(&e))?
                .map(ClientSecret::new)
                .ok_or_else(|| failed(&"the client secret is missing: set it again"))?,
        ),
    };
    let issuer = IssuerUrl::new(row.issuer.clone()).map_err(|e| failed(&e))?;
    let http = Guarded(portal.providers.clone());
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(|e| match e {
            DiscoveryError::Request(e) => Trouble::of_request(e),
            e => failed(&format!("discovery failed: {e}")),
        })?;
    let redirect = RedirectUrl::new(portal.redirect_url()).map_err(|e| failed(&e))?;
    Ok(
        CoreClient::from_provider_metadata(metadata, ClientId::new(client_id.to_owned()), secret)
            .set_redirect_uri(redirect),
    )
}

/// The page for a provider that could not be used.
fn unusable(row: &ProviderRow, trouble: &Trouble, what: &str) -> Response {
    tracing::warn!(issuer = %row.issuer, error = %trouble.detail(), "{what}");
    let message = match trouble {
        Trouble::Refused(_) => {
            "Your institution's sign-in service is at an address Medgrid does not connect to: \
             tell your institution's Medgrid administrator."
        }
        Trouble::Failed(_) if what.starts_with("completing") => {
            "Your institution's sign-in service could not complete the sign-in. Start again."
        }
        Trouble::Failed(_) => {
            "Your institution's sign-in service cannot be reached. Try again later."
        }
    };
    refusal(StatusCode::BAD_GATEWAY, message)
}

/// A provider people may sign in with: it exists, is not disabled, has a client, its
/// tenant is active.
async fn usable(svc: &Services, id: &str) -> Result<(ProviderRow, String), Response> {
    let gone = || refusal(StatusCode::NOT_FOUND, "No such institution.");
    let id: ProviderId = id.parse().map_err(|_| gone())?;
    // before sign-in: read as the service
    let reads = Reader::system(&svc.pool);
    let row = tenants::provider(&reads, id)
        .await
        .map_err(|_| refusal(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment."))?
        .ok_or_else(gone)?;
    // a disabled provider admits nobody (it collided with an older registration)
    if row.disabled_reason.is_some() {
        return Err(gone());
    }
    let client_id = row.client_id.clone().ok_or_else(gone)?;
    let tenant = tenants::by_id(&reads, TenantId::from_uuid(row.tenant_id))
        .await
        .map_err(|_| refusal(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment."))?
        .ok_or_else(gone)?;
    if !tenant.is_active() {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "This institution is suspended.",
        ));
    }
    Ok((row, client_id))
}

/// GET /login/oidc/{provider}: off to the institution's sign-in page.
pub async fn start(
    State(svc): State<Services>,
    State(portal): State<std::sync::Arc<Portal>>,
    Path(provider): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = ReturnTo::or_home(q.next.as_deref());
    let (row, client_id) = match usable(&svc, &provider).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let client = match client(&svc, &portal, &row, &client_id).await {
        Ok(client) => client,
        Err(trouble) => return unusable(&row, &trouble, "a provider cannot be reached"),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let saved = sqlx::query(
        "WITH old AS (DELETE FROM login_attempts WHERE created_at < now() - make_interval(mins => $6))
         INSERT INTO login_attempts (state, provider_id, nonce, pkce_verifier, return_to)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state.secret())
    .bind(row.id)
    .bind(nonce.secret())
    .bind(verifier.secret())
    .bind(next.as_str())
    .bind(ATTEMPT_MINUTES)
    .execute(&svc.pool)
    .await;
    if let Err(e) = saved {
        tracing::error!(error = %e, "saving a sign-in attempt failed");
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
    }
    let bind = cookies::set(
        cookies::LOGIN,
        state.secret(),
        Some(60 * ATTEMPT_MINUTES as u64),
        "Lax",
        portal.secure(),
    );
    see_other(url.as_str(), &[bind])
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Attempt {
    provider_id: uuid::Uuid,
    nonce: String,
    pkce_verifier: String,
    return_to: String,
}

/// GET /login/callback: the provider sends the browser back with a code.
pub async fn callback(
    State(svc): State<Services>,
    State(portal): State<std::sync::Arc<Portal>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(state) = q.state.as_deref() else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "The sign-in response has no state.",
        );
    };
    if !cookies::get(&headers, cookies::LOGIN, portal.secure())
        .is_some_and(|c| cookies::same(&c, state))
    {
        return refusal(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started in this browser.",
        );
    }
    // Taken once: a replayed response finds nothing.
    let attempt: Option<Attempt> = match sqlx::query_as(
        "DELETE FROM login_attempts
          WHERE state = $1 AND created_at >= now() - make_interval(mins => $2)
         RETURNING provider_id, nonce, pkce_verifier, return_to",
    )
    .bind(state)
    .bind(ATTEMPT_MINUTES)
    .fetch_optional(&svc.pool)
    .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "reading a sign-in attempt failed");
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
        }
    };
    let Some(attempt) = attempt else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used: start again.",
        );
    };
    if let Some(error) = &q.error {
        let detail = q.error_description.as_deref().unwrap_or(error);
        return refusal(
            StatusCode::UNAUTHORIZED,
            &format!("Your institution refused the sign-in: {detail}"),
        );
    }
    let Some(code) = q.code.clone() else {
        return refusal(StatusCode::BAD_REQUEST, "The sign-in response has no code.");
    };
    match finish(&svc, &portal, attempt.provider_id, code, &attempt).await {
        // parsed again: a row stored before this check existed may hold anything
        Ok(session) => signed_in(
            &ReturnTo::or_home(Some(&attempt.return_to)),
            &[
                portal.session_cookie(&session),
                cookies::clear(cookies::LOGIN, portal.secure()),
            ],
        ),
        Err(page) => page,
    }
}

/// Exchanges the code, verifies the ID token (signature, issuer, audience, expiry, nonce),
/// admits the member and opens their session.
async fn finish(
    svc: &Services,
    portal: &Portal,
    provider: uuid::Uuid,
    code: String,
    attempt: &Attempt,
) -> Result<String, Response> {
    let (row, client_id) = usable(svc, &provider.to_string()).await?;
    const COMPLETING: &str = "completing a sign-in failed";
    let client = client(svc, portal, &row, &client_id)
        .await
        .map_err(|t| unusable(&row, &t, COMPLETING))?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| unusable(&row, &Trouble::Failed(e.to_string()), COMPLETING))?
        .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
        .request_async(&Guarded(portal.providers.clone()))
        .await
        .map_err(|e| {
            let trouble = match e {
                RequestTokenError::Request(e) => Trouble::of_request(e),
                e => Trouble::Failed(e.to_string()),
            };
            unusable(&row, &trouble, COMPLETING)
        })?;
    let denied = |why: String| refusal(StatusCode::UNAUTHORIZED, &why);
    let id_token = openidconnect::TokenResponse::id_token(&response)
        .ok_or_else(|| denied("Your institution sent no ID token.".into()))?;
    id_token
        .claims(
            &client.id_token_verifier(),
            &Nonce::new(attempt.nonce.clone()),
        )
        .map_err(|e| denied(format!("The sign-in response did not verify: {e}")))?;
    let claims = payload(&id_token.to_string())
        .ok_or_else(|| denied("The ID token does not parse.".into()))?;
    let member = federation::admit(svc, &row, &claims)
        .await
        .map_err(|e| refusal(StatusCode::FORBIDDEN, &e.message))?;
    auth::open_session(
        svc,
        TenantId::from_uuid(member.tenant_id),
        MemberId::from_uuid(member.id),
        "browser sign-in",
        None,
    )
    .await
    .map_err(|e| refusal(StatusCode::SERVICE_UNAVAILABLE, &e.message))
}

/// The claims of a JWT already verified (all of them, for the claim mapping).
fn payload(jwt: &str) -> Option<Value> {
    let part = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}
